// The batch/v1 CronJob schema (docs/workloads.md#cronjobs), validated as the API server does:
// schedule (specs/cron_schedule.h; no TZ= or CRON_TZ= in it), timeZone (an IANA name found in
// the zoneinfo directory), startingDeadlineSeconds, concurrencyPolicy, suspend, the history
// limits, and jobTemplate (metadata, and a Job spec read by the Job schema, job_schema.cc).

#include "specs/cronjob.h"
#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr std::string_view kCronJobUnsupported[] = {"status"};
// The Job name a CronJob makes adds "-" and the scheduled minute (8 digits until the year 2160).
constexpr size_t kJobNameSuffix = 9;

// A DNS-1123 label short enough that the Jobs made from it are names too.
std::string checkCronJobName(std::string_view name) {
  if (std::string why = checkDns1123Label(name); !why.empty()) return why;
  if (name.size() > kMaxCronJobName)
    return "must be no more than " + std::to_string(kMaxCronJobName) + " characters";
  return "";
}

}  // namespace

std::optional<CronJob> DocParser::parseCronJob(const YAML::Node& root) {
  isWorkload_ = true;
  isJob_ = true;
  jobNameExtra_ = kJobNameSuffix;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  walkObject(root, where, "",
             objectFields("batch/v1", "CronJob", workload_.name, workload_.namespaceName,
                          checkCronJobName,
                          {{"spec", true,
                            [this](const Entry& f, const std::string& p) {
                              parseCronJobSpec(f, p);
                            }}}),
      kCronJobUnsupported);
  if (r_.count() != before) return std::nullopt;
  cronJob_.name = workload_.name;
  cronJob_.namespaceName = workload_.namespaceName;
  job_.podTemplate = workload_.podTemplate;
  cronJob_.jobTemplate = job_;
  return cronJob_;
}

void DocParser::parseCronJobSpec(const Entry& e, const std::string& path) {
  auto limit = [this](int64_t& out) {
    return [this, &out](const Entry& f, const std::string& p) {
      std::optional<int64_t> n = integer(f, p);
      if (n && *n < 0) return error(f.valueMark(), p, "must be greater than or equal to 0");
      if (n) out = *n;
    };
  };
  std::vector<Field> fields = {
      {"schedule", true,
       [this](const Entry& f, const std::string& p) {
         std::optional<std::string> s = string(f, p);
         if (!s) return;
         if (s->empty()) return error(f.valueMark(), p, "Required value");
         auto parsed = parseCronSchedule(*s);
         if (!parsed.ok())
           return error(f.valueMark(), p,
                        "Invalid value: " + inQuotes(*s) + ": " + parsed.error().message);
         cronJob_.schedule = *s;
         cronJob_.parsed = *parsed;
       }},
      {"timeZone", false,
       [this](const Entry& f, const std::string& p) {
         std::optional<std::string> s = string(f, p);
         if (!s) return;
         if (s->empty()) return error(f.valueMark(), p, "timeZone must be nil or non-empty string");
         if (*s == "Local" || *s == "local")
           return error(f.valueMark(), p,
                        "timeZone must be an explicit time zone as defined in "
                        "https://www.iana.org/time-zones");
         auto zone = loadTimeZone(*s);
         if (!zone.ok())
           return error(f.valueMark(), p,
                        "Invalid value: " + inQuotes(*s) + ": " + zone.error().message);
         cronJob_.timeZone = *s;
       }},
      {"startingDeadlineSeconds", false,
       [this](const Entry& f, const std::string& p) {
         std::optional<int64_t> n = integer(f, p);
         if (n && *n < 0) return error(f.valueMark(), p, "must be greater than or equal to 0");
         if (n) cronJob_.startingDeadlineSeconds = *n;
       }},
      {"concurrencyPolicy", false,
       [this](const Entry& f, const std::string& p) {
         std::optional<std::string> s = string(f, p);
         if (!s) return;
         for (auto c :
              {ConcurrencyPolicy::Allow, ConcurrencyPolicy::Forbid, ConcurrencyPolicy::Replace}) {
           if (*s == toString(c)) return void(cronJob_.concurrencyPolicy = c);
         }
         error(f.valueMark(), p,
               "Unsupported value: " + inQuotes(*s) +
                   ": supported values: \"Allow\", \"Forbid\", \"Replace\"");
       }},
      {"suspend", false,
       [this](const Entry& f, const std::string& p) {
         if (auto b = boolean(f, p)) cronJob_.suspend = *b;
       }},
      {"successfulJobsHistoryLimit", false, limit(cronJob_.successfulJobsHistoryLimit)},
      {"failedJobsHistoryLimit", false, limit(cronJob_.failedJobsHistoryLimit)},
      {"jobTemplate", true,
       [this](const Entry& f, const std::string& p) { parseJobTemplate(f, p); }}};
  walkObject(e.value, e.valueMark(), path, fields, {});
}

void DocParser::parseJobTemplate(const Entry& e, const std::string& path) {
  walkObject(e.value, e.valueMark(), path,
             {{"metadata", false,
               [this](const Entry& f, const std::string& p) {
                 walkObject(f.value, f.valueMark(), p,
                            {{"labels", false,
                              [this](const Entry& g, const std::string& q) {
                                cronJob_.jobLabels = stringMap(g, q, labelProblem);
                              }},
                             {"annotations", false,
                              [this](const Entry& g, const std::string& q) {
                                cronJob_.jobAnnotations =
                                    stringMap(g, q, [](const std::string& k, const std::string&) {
                                      return checkQualifiedName(k);
                                    });
                              }}},
                            kMetadataUnsupported);
               }},
              {"spec", true, [this](const Entry& f, const std::string& p) { parseJobSpec(f, p); }}},
             {});
}

}  // namespace boxd::specs::detail
