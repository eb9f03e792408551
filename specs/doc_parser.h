// Turns one YAML document into a PodSpec or a Secret, reporting every problem with its field path.
// doc_parser.cc holds the generic walk (objects, typed scalars, lists, maps); pod_schema*.cc hold
// the Pod schema as field tables, secret_schema.cc the Secret's. Internal to specs/.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "specs/cronjob.h"
#include "specs/job.h"
#include "specs/pod.h"
#include "specs/secret.h"
#include "specs/workload.h"
#include "specs/yaml_node.h"

namespace boxd::specs::detail {

// Well-known metadata fields boxd does not implement (of Pods and Secrets alike).
inline constexpr std::string_view kMetadataUnsupported[] = {"generateName",
                                                            "uid",
                                                            "resourceVersion",
                                                            "generation",
                                                            "creationTimestamp",
                                                            "deletionTimestamp",
                                                            "deletionGracePeriodSeconds",
                                                            "ownerReferences",
                                                            "finalizers",
                                                            "managedFields",
                                                            "selfLink"};

// The pod annotation that asks boxd to create a missing RBD image: <prefix><volume name>.
inline constexpr std::string_view kRbdProvisionPrefix = "provision.rbd.boxd.io/";

// The kind a document declares ("Pod", "Secret", ...), or "" when it has no string kind.
std::string documentKind(const YAML::Node& root);

// spec.selector of a workload, labelSelector of affinity terms (specs/scheduling.h).
using LabelSelector = specs::LabelSelector;

class DocParser {
 public:
  explicit DocParser(Reporter& r) : r_(r) {}

  // The pod if the document had no problems; problems go to the Reporter either way.
  std::optional<PodSpec> parse(const YAML::Node& root);
  // A kind: Secret document. No diagnostic quotes any part of a value (secret_schema.cc).
  std::optional<Secret> parseSecret(const YAML::Node& root);
  // A kind: ConfigMap document (configmap_schema.cc).
  std::optional<ConfigMap> parseConfigMap(const YAML::Node& root);
  // An apps/v1 workload document of the given kind (workload_schema.cc).
  std::optional<Workload> parseWorkload(const YAML::Node& root, WorkloadKind kind);
  // A batch/v1 Job document (job_schema.cc).
  std::optional<Job> parseJob(const YAML::Node& root);
  // A batch/v1 CronJob document (cronjob_schema.cc).
  std::optional<CronJob> parseCronJob(const YAML::Node& root);
  // metadata.name and where it was written (for the file-level duplicate check); empty if unset.
  const std::string& name() const {
    return isSecret_      ? secret_.name
           : isConfigMap_ ? configMap_.name
           : isWorkload_  ? workload_.name
                          : pod_.name;
  }
  const YAML::Mark& nameMark() const { return nameMark_; }
  // namespace/name as specs::objectKey writes it: what must be unique in a file.
  std::string key() const {
    return isSecret_      ? objectKey(secret_.namespaceName, secret_.name)
           : isConfigMap_ ? objectKey(configMap_.namespaceName, configMap_.name)
           : isJob_       ? objectKey(workload_.namespaceName, workload_.name)
                          : pod_.key();
  }

 private:
  using Handler = std::function<void(const Entry&, const std::string& path)>;
  struct Field {
    std::string_view name;
    bool required;
    Handler handle;
  };

  // ---- generic walk (doc_parser.cc) ----
  // Dispatches the entries of a mapping to the field table. Fields set to null count as absent.
  // Known-but-unsupported Kubernetes fields are reported as such unless they ask for nothing
  // (null, {}, [], false); anything else not in the table is an "unknown field".
  void walkObject(const YAML::Node& node, const YAML::Mark& where, const std::string& path,
                  const std::vector<Field>& fields, std::span<const std::string_view> unsupported);
  void reportUnknown(const Entry& e, const std::string& path, const std::vector<Field>& fields,
                     std::span<const std::string_view> unsupported);
  std::optional<std::string> string(const YAML::Node& v, const YAML::Mark& at,
                                    const std::string& path);
  std::optional<std::string> string(const Entry& e, const std::string& path) {
    return string(e.value, e.valueMark(), path);
  }
  std::vector<std::string> stringList(const Entry& e, const std::string& path);
  // A string→string map; check(key, value) returns a problem or "".
  std::map<std::string, std::string> stringMap(
      const Entry& e, const std::string& path,
      const std::function<std::string(const std::string& key, const std::string& value)>& check);
  std::optional<int64_t> integer(const Entry& e, const std::string& path);
  std::optional<bool> boolean(const Entry& e, const std::string& path);
  // Each item of a list (null = empty list); false if the value is not a list.
  bool forEachItem(
      const Entry& e, const std::string& path,
      const std::function<void(const YAML::Node&, const YAML::Mark&, const std::string&)>& fn);
  void error(const YAML::Mark& at, const std::string& path, std::string message) {
    r_.error(at, path, std::move(message));
  }
  // A handler that requires the string `want` (apiVersion, kind).
  Handler constant(std::string_view want);
  // The fields of an object kind's document: apiVersion and kind (both required to be these),
  // metadata (name checked by checkName, and namespace), then the kind's own `fields`.
  std::vector<Field> objectFields(std::string_view apiVersion, std::string_view kind,
                                  std::string& name, std::string& namespaceName,
                                  std::string (*checkName)(std::string_view),
                                  std::vector<Field> fields);

  // ---- the Pod schema (pod_schema.cc) ----
  void parsePod(const YAML::Node& root, const YAML::Mark& where);
  // The checks that need the whole pod (mounts, ports, block volumes...), after its fields.
  void finishPod();
  bool checkKind(const YAML::Node& root);
  void parseMetadata(const Entry& e, const std::string& path);
  // metadata fields Pods, Secrets and ConfigMaps read alike: namespace (a DNS-1123 label, into
  // out), and the check of a label (qualified key, label value).
  Field namespaceField(std::string& out);
  // metadata of a Secret, ConfigMap or workload: name (checked by checkName), namespace; labels
  // and annotations checked, then dropped (nothing in boxd selects these objects by them).
  void parseObjectMetadata(const Entry& e, const std::string& path, std::string& name,
                           std::string& namespaceName, std::string (*checkName)(std::string_view));
  static std::string labelProblem(const std::string& key, const std::string& value);
  void parseSpec(const Entry& e, const std::string& path);
  void parseContainers(const Entry& e, const std::string& path, std::vector<Container>& out,
                       bool required);
  void parseLegacyInitContainers(const Entry& annotations, const std::string& path);
  // init: an entry of initContainers (whose restartPolicy: Always makes it a sidecar).
  Container parseContainer(const YAML::Node& n, const YAML::Mark& at, const std::string& path,
                           bool init);
  void parseContainerRestartPolicy(const Entry& f, const std::string& path, bool init,
                                   Container& c);
  std::vector<EnvVar> parseEnv(const Entry& e, const std::string& path);
  void parseVolumes(const Entry& e, const std::string& path);
  std::vector<VolumeMount> parseVolumeMounts(const Entry& e, const std::string& path);
  // Every mount names a declared volume (checked once the whole pod is read).
  void checkVolumeMounts();
  Resources parseResources(const Entry& e, const std::string& path);
  // Block volumes (pod_schema_block.cc).
  IscsiVolume parseIscsi(const Entry& e, const std::string& path);
  RbdVolume parseRbd(const Entry& e, const std::string& path);
  void parseSecretRef(const Entry& e, const std::string& path, std::string& out);
  std::string parseFsType(const Entry& e, const std::string& path);
  // Remembers the provision.rbd.boxd.io/ annotations (applied once the volumes are known).
  void noteRbdProvisions(const Entry& annotations, const std::string& path);
  void applyRbdProvisions();
  // The annotation's JSON: {"size": quantity, "features": [librbd names]}.
  RbdProvision parseProvision(const YAML::Node& root);
  // No two volumes name the same LUN or the same RBD image.
  void checkBlockVolumes();
  // Networking fields (pod_schema_network.cc).
  std::vector<ContainerPort> parsePorts(const Entry& e, const std::string& path);
  void parseDnsPolicy(const Entry& e, const std::string& path);
  void parseDnsConfig(const Entry& e, const std::string& path);
  void parseHostAliases(const Entry& e, const std::string& path);
  // spec.imagePullSecrets: [{name: SECRET}] (pod_schema_images.cc).
  void parseImagePullSecrets(const Entry& e, const std::string& path);
  void parseTolerations(const Entry& e, const std::string& path);  // pod_schema_tolerations.cc
  // hostPorts unique in the pod; hostNetwork publishes containerPort itself; None needs servers.
  void checkNetwork();
  // ---- probes and lifecycle hooks (pod_schema_probes.cc) ----
  std::optional<Probe> parseProbe(const Entry& e, const std::string& path, bool liveOrStartup);
  Lifecycle parseLifecycle(const Entry& e, const std::string& path);
  // One action (exec, httpGet; tcpSocket and grpc in probes, sleep in hooks); extra: the probe's
  // timing fields.
  Action parseHandler(const YAML::Node& n, const YAML::Mark& at, const std::string& path, bool hook,
                      std::vector<Field> extra = {});
  void parseProbePort(const Entry& e, const std::string& path, ProbePort& out);
  std::string parseProbeHost(const Entry& e, const std::string& path);
  // Named probe ports of the container parsed at path → its ports' numbers.
  void resolveProbePorts(Container& c, const std::string& path);
  // ---- securityContext (security_schema.cc) ----
  PodSecurityContext parsePodSecurityContext(const Entry& e, const std::string& path);
  SecurityContext parseSecurityContext(const Entry& e, const std::string& path);
  std::optional<int64_t> parseId(const Entry& e, const std::string& path);  // 0..2^31-1
  std::vector<std::string> parseCapabilityList(const Entry& e, const std::string& path);
  void parseSeccompProfile(const Entry& e, const std::string& path);
  // ---- configuration sources (pod_schema_config.cc) ----
  // configMap, secret, downwardAPI, projected (into v.config), and every Kubernetes volume type
  // boxd does not support, each refused as such.
  void addConfigVolumeFields(std::vector<Field>& fields, Volume& v);
  // A file mode: 0..0777, octal as YAML 1.1 reads it (0644) or decimal (420).
  std::optional<int64_t> parseMode(const Entry& e, const std::string& path);
  std::optional<ResourceFieldRef> parseResourceFieldRef(const Entry& e, const std::string& path,
                                                        bool needContainer);
  std::optional<std::string> parseFieldRef(const Entry& e, const std::string& path, bool forVolume);
  std::vector<KeyToPath> parseItems(const Entry& e, const std::string& path);
  std::vector<DownwardAPIFile> parseDownwardItems(const Entry& e, const std::string& path);
  ConfigSource parseObjectSource(const Entry& e, const std::string& path, ConfigSource::Kind kind,
                                 std::string_view nameField, int64_t* defaultMode);
  // e.key is configMap, secret, downwardAPI or projected.
  ConfigVolume parseConfigVolume(const Entry& e, const std::string& path);
  void parseProjected(const Entry& e, const std::string& path, ConfigVolume& cv);
  void checkConfigPaths(const ConfigVolume& cv, const YAML::Mark& at, const std::string& path);
  std::optional<EnvVarSource> parseEnvVarSource(const Entry& e, const std::string& path);
  std::vector<EnvFromSource> parseEnvFrom(const Entry& e, const std::string& path);
  void checkResourceRefs();
  void checkAppArmorAnnotations(const YAML::Mark& at);
  // ---- scheduling: affinity, topologySpreadConstraints (scheduling_schema.cc) ----
  // The handler of spec.affinity, topologySpreadConstraints, serviceAccountName,
  // serviceAccount and automountServiceAccountToken (by the entry's key).
  Handler schedulingField();
  Affinity parseAffinity(const Entry& e, const std::string& path);
  NodeAffinity parseNodeAffinity(const Entry& e, const std::string& path);
  NodeSelectorTerm parseNodeSelectorTerm(const YAML::Node& n, const YAML::Mark& at,
                                         const std::string& path);
  NodeSelectorRequirement parseNodeRequirement(const YAML::Node& n, const YAML::Mark& at,
                                               const std::string& path, bool field);
  PodAffinityRules parsePodAffinity(const Entry& e, const std::string& path);
  PodAffinityTerm parsePodAffinityTerm(const YAML::Node& n, const YAML::Mark& at,
                                       const std::string& path);
  std::optional<int64_t> parseWeight(const Entry& e, const std::string& path);
  // topologyKey (a non-empty qualified name, required) of affinity terms and spread constraints.
  Field topologyKeyField(std::string& out);
  template <typename Term>
  using TermParser = Term (DocParser::*)(const YAML::Node&, const YAML::Mark&, const std::string&);
  // The handler of a preferredDuringSchedulingIgnoredDuringExecution list: each item
  // {weight: 1-100, <termKey>: term} into out, the term read by parseTerm.
  template <typename Weighted, typename Term>
  Handler preferredTerms(std::vector<Weighted>& out, const char* termKey, Term Weighted::*term,
                         TermParser<Term> parseTerm);
  std::vector<std::string> parseLabelKeys(const Entry& e, const std::string& path);
  TopologySpreadConstraint parseSpreadConstraint(const YAML::Node& n, const YAML::Mark& at,
                                                 const std::string& path);
  // ---- workloads (workload_schema.cc) ----
  void parseWorkloadSpec(const Entry& e, const std::string& path);
  // spec.template into pod_ (then workload_.podTemplate); false if it had problems. A Job's
  // template must restart OnFailure or Never, a workload's Always.
  bool parsePodTemplate(const Entry& e, const std::string& path, bool job = false);
  std::optional<LabelSelector> parseSelector(const Entry& e, const std::string& path);
  LabelSelector::Requirement parseRequirement(const YAML::Node& n, const YAML::Mark& at,
                                              const std::string& path);
  // n pods of the template at once on one host would all claim a hostPort (or a port of the host's
  // network) or a read-write block volume; `field` is replicas or parallelism.
  void checkReplicaClash(const std::string& path, const YAML::Mark& at, int64_t n,
                         std::string_view field);
  std::string lowerKind() const;                    // "deployment", as Kubernetes' messages say it
  void noteClaimTemplates(const YAML::Node& spec);  // workload_schema.cc
  // ---- Jobs (job_schema.cc) ----
  void parseJobSpec(const Entry& e, const std::string& path);
  void checkJob(const std::string& path, const YAML::Mark& at);
  // ---- CronJobs (cronjob_schema.cc) ----
  void parseCronJobSpec(const Entry& e, const std::string& path);
  void parseJobTemplate(const Entry& e, const std::string& path);
  // ---- ConfigMaps and Secrets (configmap_schema.cc, secret_schema.cc, data_schema.cc) ----
  // How one data map reads and words its problems.
  struct DataMapForm {
    std::string_view mappingOf;  // "must be a mapping of <mappingOf>, got ..."
    std::string_view badBase64;  // values are base64, this the message for one that is not;
                                 // "": values are text
  };
  // The keys and values of a data map (data, binaryData, stringData); problems name the key,
  // never the value.
  std::map<std::string, std::string> dataValues(const Entry& e, const std::string& path,
                                                const DataMapForm& form);
  // Kubernetes' 1 MiB limit on the keys and values of the maps together; kind names the object.
  void checkDataSize(std::initializer_list<const std::map<std::string, std::string>*> maps,
                     const YAML::Mark& at, std::string_view kind);

  Reporter& r_;
  PodSpec pod_;
  YAML::Mark nameMark_ = YAML::Mark::null_mark();
  std::map<std::string, std::string> containerPaths_;  // every container name (init or not) → path
  std::vector<Container> legacyInit_;
  struct MountRef {
    std::string volume;
    YAML::Mark at;
    std::string path;
  };
  std::vector<MountRef> mountRefs_;
  std::map<std::string, std::string> volumePaths_;  // volume name → path of its declaration
  YAML::Mark legacyInitMark_ = YAML::Mark::null_mark();
  struct PortRef {
    ContainerPort port;
    YAML::Mark at;
    std::string path;
  };
  std::vector<PortRef> hostPorts_;
  struct ProbePortRef {  // a probe port given by name, in the container being parsed
    YAML::Mark at;
    std::string path;
  };
  std::vector<ProbePortRef> probePortRefs_;
  YAML::Mark hostNetworkMark_ = YAML::Mark::null_mark();
  YAML::Mark dnsPolicyMark_ = YAML::Mark::null_mark();
  struct BlockRef {  // a block volume that parsed without problems
    std::string name;
    YAML::Mark at;
    std::string path;
  };
  std::vector<BlockRef> blockRefs_;
  struct ProvisionRef {  // a provision.rbd.boxd.io/<volume> annotation
    std::string volume;
    std::string value;
    YAML::Mark at;
    std::string path;
  };
  std::vector<ProvisionRef> provisionRefs_;
  std::vector<MountRef> resourceRefs_;  // resourceFieldRef.containerName (volume = container)
  bool isConfigMap_ = false;
  bool isWorkload_ = false;
  bool isJob_ = false;  // a Job: name, namespace and template in workload_, the rest in job_
  Job job_;
  CronJob cronJob_;          // a CronJob: its Job template in job_ (and workload_.podTemplate)
  size_t jobNameExtra_ = 0;  // what a CronJob adds to the name of the Jobs it makes
  bool inTemplate_ = false;  // reading spec.template: metadata.name is optional there
  std::set<std::string> claimTemplateNames_;  // a StatefulSet's volumeClaimTemplates (unsupported)
  Workload workload_;
  ConfigMap configMap_;
  // Secret documents: string() then never quotes a value it rejects.
  bool isSecret_ = false;
  Secret secret_;
};

}  // namespace boxd::specs::detail
