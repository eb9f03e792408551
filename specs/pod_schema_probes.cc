// Probes and lifecycle hooks of the Pod schema: livenessProbe, readinessProbe, startupProbe and
// lifecycle.postStart/preStop, with Kubernetes' defaults and validation rules.
//
// Not supported, and said so: httpGet with scheme HTTPS (no TLS client), tcpSocket and grpc
// hooks (Kubernetes has neither), host names that are not IP addresses (boxd resolves nothing on
// the pod's behalf).

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr std::string_view kLifecycleUnsupported[] = {"stopSignal"};

// An HTTP header name (RFC 9110 token).
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
  }
  return true;
}

// IANA service name as Kubernetes checks a named port: 1-15 chars, lowercase letters, digits
// and '-', at least one letter.
bool isPortName(std::string_view s) {
  if (s.empty() || s.size() > 15) return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z')
      letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-')
      return false;
  }
  return letter && s.front() != '-' && s.back() != '-' && s.find("--") == std::string_view::npos;
}

}  // namespace

void DocParser::parseProbePort(const Entry& e, const std::string& path, ProbePort& out) {
  if (e.value.IsScalar() && scalarKind(e.value) == ScalarKind::Int) {
    std::optional<int64_t> v = integer(e, path);
    if (!v) return;
    if (*v < 1 || *v > 65535)
      return error(
          e.valueMark(), path,
          "must be a port number from 1 to 65535 or a port name, got " + std::to_string(*v));
    out.number = *v;
    return;
  }
  std::optional<std::string> s = string(e, path);
  if (!s) return;
  if (!isPortName(*s))
    return error(e.valueMark(), path,
                 "must be a port number or the name of a container port (at most 15 lowercase "
                 "letters, digits and '-'), got " +
                     inQuotes(*s));
  out.name = *s;
  probePortRefs_.push_back({e.valueMark(), path});
}

std::string DocParser::parseProbeHost(const Entry& e, const std::string& path) {
  std::optional<std::string> s = string(e, path);
  if (!s || s->empty()) return "";
  if (std::string why = checkIpAddress(*s, false); !why.empty()) {
    error(e.valueMark(), path,
          "must be an IPv4 address (boxd resolves no host names for probes), got " + inQuotes(*s));
    return "";
  }
  return *s;
}

Action DocParser::parseHandler(const YAML::Node& n, const YAML::Mark& at, const std::string& path,
                               bool hook, std::vector<Field> extra) {
  Action h;
  std::vector<Field> fields = {
      {"exec", false,
       [&](const Entry& f, const std::string& p) {
         ExecAction a;
         walkObject(f.value, f.valueMark(), p,
                    {{"command", true,
                      [&](const Entry& g, const std::string& gp) {
                        a.command = stringList(g, gp);
                        if (a.command.empty() && g.value.IsSequence())
                          error(g.valueMark(), gp, "must name a command to run");
                      }}},
                    {});
         h.exec = std::move(a);
       }},
      {"httpGet", false,
       [&](const Entry& f, const std::string& p) {
         HttpGetAction a;
         walkObject(
             f.value, f.valueMark(), p,
             {{"port", true,
               [&](const Entry& g, const std::string& gp) { parseProbePort(g, gp, a.port); }},
              {"host", false,
               [&](const Entry& g, const std::string& gp) { a.host = parseProbeHost(g, gp); }},
              {"path", false,
               [&](const Entry& g, const std::string& gp) {
                 std::optional<std::string> s = string(g, gp);
                 if (!s || s->empty()) return;
                 if (s->find_first_of(" \r\n\t") != std::string::npos)
                   return error(g.valueMark(), gp,
                                "must not contain spaces or line breaks, got " + inQuotes(*s));
                 a.path = (*s)[0] == '/' ? *s : "/" + *s;  // as kubelet does
               }},
              {"scheme", false,
               [&](const Entry& g, const std::string& gp) {
                 std::optional<std::string> s = string(g, gp);
                 if (!s || *s == "HTTP") return;
                 if (*s == "HTTPS")
                   return error(g.valueMark(), gp,
                                "scheme HTTPS is not supported by boxd (no TLS client); use HTTP");
                 error(g.valueMark(), gp, "must be \"HTTP\" or \"HTTPS\", got " + inQuotes(*s));
               }},
              {"httpHeaders", false,
               [&](const Entry& g, const std::string& gp) {
                 forEachItem(
                     g, gp,
                     [&](const YAML::Node& hn, const YAML::Mark& hat, const std::string& hp) {
                       HttpHeader hd;
                       walkObject(
                           hn, hat, hp,
                           {{"name", true,
                             [&](const Entry& x, const std::string& xp) {
                               std::optional<std::string> s = string(x, xp);
                               if (s && !isToken(*s))
                                 return error(x.valueMark(), xp,
                                              "must be an HTTP header name, got " + inQuotes(*s));
                               if (s) hd.name = *s;
                             }},
                            {"value", true,
                             [&](const Entry& x, const std::string& xp) {
                               std::optional<std::string> s = string(x, xp);
                               if (s && s->find_first_of("\r\n") != std::string::npos)
                                 return error(x.valueMark(), xp, "must not contain line breaks");
                               if (s) hd.value = *s;
                             }}},
                           {});
                       if (!hd.name.empty()) a.headers.push_back(std::move(hd));
                     });
               }}},
             {});
         h.httpGet = std::move(a);
       }},
      {"tcpSocket", false,
       [&](const Entry& f, const std::string& p) {
         if (hook)
           return error(f.keyMark, p,
                        "tcpSocket is not a lifecycle hook action (Kubernetes ignores it); use "
                        "exec, httpGet or sleep");
         TcpSocketAction a;
         walkObject(
             f.value, f.valueMark(), p,
             {{"port", true,
               [&](const Entry& g, const std::string& gp) { parseProbePort(g, gp, a.port); }},
              {"host", false,
               [&](const Entry& g, const std::string& gp) { a.host = parseProbeHost(g, gp); }}},
             {});
         h.tcpSocket = std::move(a);
       }},
      {"grpc", false,
       [&](const Entry& f, const std::string& p) {
         if (hook)
           return error(f.keyMark, p,
                        "grpc is not a lifecycle hook action (Kubernetes has no grpc hook); use "
                        "exec, httpGet or sleep");
         GrpcAction a;
         walkObject(f.value, f.valueMark(), p,
                    {{"port", true,
                      [&](const Entry& g, const std::string& gp) {
                        if (!g.value.IsScalar() || scalarKind(g.value) != ScalarKind::Int)
                          return error(g.valueMark(), gp,
                                       "must be a port number (grpc probes take no port names, "
                                       "as in Kubernetes), got " +
                                           describe(g.value));
                        std::optional<int64_t> v = integer(g, gp);
                        if (v && (*v < 1 || *v > 65535))
                          return error(
                              g.valueMark(), gp,
                              "must be a port number from 1 to 65535, got " + std::to_string(*v));
                        if (v) a.port = *v;
                      }},
                     {"service", false,
                      [&](const Entry& g, const std::string& gp) {
                        std::optional<std::string> s = string(g, gp);
                        if (s) a.service = *s;
                      }}},
                    {});
         h.grpc = std::move(a);
       }},
      {"sleep", false, [&](const Entry& f, const std::string& p) {
         if (!hook)
           return error(f.keyMark, p, "sleep is a lifecycle hook action, not a probe action");
         SleepAction a;
         walkObject(f.value, f.valueMark(), p,
                    {{"seconds", true,
                      [&](const Entry& g, const std::string& gp) {
                        std::optional<int64_t> v = integer(g, gp);
                        if (v && *v < 0)
                          return error(g.valueMark(), gp,
                                       "must not be negative, got " + std::to_string(*v));
                        if (v) a.seconds = *v;
                      }}},
                    {});
         h.sleep = a;
       }}};
  for (Field& f : extra) fields.push_back(std::move(f));
  size_t before = r_.count();
  walkObject(n, at, path, fields, {});
  int set = h.exec.has_value() + h.httpGet.has_value() + h.tcpSocket.has_value() +
            h.grpc.has_value() + h.sleep.has_value();
  if (set > 1)
    error(at, path, "must set exactly one action, got " + std::to_string(set));
  else if (set == 0 && r_.count() == before)
    error(at, path,
          hook ? "must set one action: exec, httpGet or sleep"
               : "must set one action: exec, httpGet, tcpSocket or grpc");
  return h;
}

std::optional<Probe> DocParser::parseProbe(const Entry& e, const std::string& path,
                                           bool liveOrStartup) {
  Probe pr;
  auto seconds = [this](int64_t& out, int64_t min) {
    return [this, &out, min](const Entry& f, const std::string& p) {
      std::optional<int64_t> v = integer(f, p);
      if (!v) return;
      if (*v < min || *v > INT32_MAX)
        return error(
            f.valueMark(), p,
            "must be from " + std::to_string(min) + " to 2147483647, got " + std::to_string(*v));
      out = *v;
    };
  };
  // The action's fields sit in the probe itself (Kubernetes' inlined ProbeHandler).
  std::vector<Field> timing = {
      {"initialDelaySeconds", false, seconds(pr.initialDelaySeconds, 0)},
      {"periodSeconds", false, seconds(pr.periodSeconds, 1)},
      {"timeoutSeconds", false, seconds(pr.timeoutSeconds, 1)},
      {"successThreshold", false,
       [&, set = seconds(pr.successThreshold, 1)](const Entry& f, const std::string& p) {
         set(f, p);
         if (liveOrStartup && pr.successThreshold != 1)
           error(f.valueMark(), p,
                 "must be 1 for liveness and startup probes, got " +
                     std::to_string(pr.successThreshold));
       }},
      {"failureThreshold", false, seconds(pr.failureThreshold, 1)},
      {"terminationGracePeriodSeconds", false, [&](const Entry& f, const std::string& p) {
         if (!liveOrStartup)
           return error(f.keyMark, p,
                        "only liveness and startup probes kill the container; a readiness probe "
                        "has no grace period");
         int64_t v = 0;
         size_t before = r_.count();
         seconds(v, 1)(f, p);
         if (r_.count() == before) pr.terminationGracePeriodSeconds = v;
       }}};
  if (!e.value.IsMap()) {
    error(e.valueMark(), path, "must be a mapping, got " + describe(e.value));
    return std::nullopt;
  }
  size_t before = r_.count();
  pr.handler = parseHandler(e.value, e.valueMark(), path, false, std::move(timing));
  if (r_.count() != before) return std::nullopt;
  return pr;
}

Lifecycle DocParser::parseLifecycle(const Entry& e, const std::string& path) {
  Lifecycle l;
  auto hook = [this](std::optional<Action>& out) {
    return [this, &out](const Entry& f, const std::string& p) {
      size_t before = r_.count();
      Action h = parseHandler(f.value, f.valueMark(), p, true);
      if (r_.count() == before) out = std::move(h);
    };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"postStart", false, hook(l.postStart)}, {"preStop", false, hook(l.preStop)}},
             kLifecycleUnsupported);
  return l;
}

void DocParser::resolveProbePorts(Container& c, const std::string& path) {
  std::vector<std::pair<ProbePort*, std::string>> ports;  // every port of a probe or hook
  auto add = [&ports](Action& h, const std::string& at) {
    if (h.httpGet) ports.push_back({&h.httpGet->port, at + ".httpGet.port"});
    if (h.tcpSocket) ports.push_back({&h.tcpSocket->port, at + ".tcpSocket.port"});
  };
  ContainerProbes& pr = c.probes;
  if (pr.liveness) add(pr.liveness->handler, path + ".livenessProbe");
  if (pr.readiness) add(pr.readiness->handler, path + ".readinessProbe");
  if (pr.startup) add(pr.startup->handler, path + ".startupProbe");
  if (pr.lifecycle.postStart) add(*pr.lifecycle.postStart, path + ".lifecycle.postStart");
  if (pr.lifecycle.preStop) add(*pr.lifecycle.preStop, path + ".lifecycle.preStop");
  for (const ProbePortRef& r : probePortRefs_) {
    for (auto& [port, at] : ports) {
      if (at != r.path || port->name.empty()) continue;
      for (const ContainerPort& cp : c.ports) {
        if (cp.name == port->name && cp.protocol == "TCP") port->number = cp.containerPort;
      }
      if (port->number == 0)
        error(r.at, r.path,
              "the container has no TCP port named " + inQuotes(port->name) +
                  " (declare it in ports)");
    }
  }
  probePortRefs_.clear();
}

}  // namespace boxd::specs::detail
