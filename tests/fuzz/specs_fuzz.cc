// Fuzz harness for the spec parser: any bytes in, never a crash, an exception or a hang; and for
// every pod that parses, the canonical JSON must round-trip and hash stably; every Secret that
// parses has a name and a redacted description.
//
// Replayed over tests/fuzz/corpus/specs by the `specs_fuzz_replay` CTest (label unit). With clang,
// the libFuzzer build is `cmake --build <dir> --target specs_fuzz`, then for example:
//   mkdir -p /tmp/specs-corpus
//   <dir>/tests/fuzz/specs_fuzz -max_total_time=60 -timeout=10 /tmp/specs-corpus
//   tests/fuzz/corpus/specs
// (new inputs go to the first directory; copy interesting ones into the seed corpus).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "specs/parse.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "specs_fuzz: invariant broken: %s\n", what);
  std::abort();
}

void checkPod(const boxd::specs::PodSpec& pod) {
  using namespace boxd::specs;
  nlohmann::json j = toJson(pod);
  std::string text = j.dump();  // parsed pods hold valid UTF-8 only: must not throw
  boxd::Result<PodSpec> back = fromJson(nlohmann::json::parse(text));
  if (!back.ok()) fail("fromJson(toJson(pod)) failed");
  if (!(*back == pod)) fail("fromJson(toJson(pod)) != pod");
  if (specHash(*back) != specHash(pod)) fail("hash changed across a round trip");
  if (!isDns1123Label(pod.name)) fail("pod name is not a DNS-1123 label");
  if (pod.containers.empty()) fail("a pod without containers parsed");
  for (const Container& c : pod.containers) {
    if (c.image.empty()) fail("a container without an image parsed");
    (void)parseImageRef(c.image).str();
  }
  for (const Volume& v : pod.volumes) {
    int sources =
        v.emptyDir.has_value() + v.hostPath.has_value() + v.iscsi.has_value() + v.rbd.has_value();
    if (sources != 1) fail("a volume without exactly one source parsed");
    if (v.iscsi && (v.iscsi->lun < 0 || v.iscsi->lun > 16383 || v.iscsi->iqn.empty() ||
                    v.iscsi->targetPortal.find(':') == std::string::npos)) {
      fail("an iscsi volume with a bad LUN, IQN or portal parsed");
    }
    if (v.rbd && (v.rbd->monitors.empty() || v.rbd->image.empty() || v.rbd->pool.empty()))
      fail("an rbd volume without monitors, image or pool parsed");
  }
}

void checkSecret(const boxd::specs::Secret& s) {
  if (s.name.empty() || s.type.empty()) fail("a secret without a name or type parsed");
  (void)boxd::specs::describeSecret(s);
  (void)boxd::specs::cephKey(s);
  (void)boxd::specs::chapCredentials(s, {true, true});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view content(reinterpret_cast<const char*>(data), size);
  boxd::specs::ParseResult r = boxd::specs::parseSpecFile("fuzz.yaml", content);
  for (const boxd::specs::Diagnostic& d : r.errors) {
    if (d.message.empty() || d.line < 0 || d.column < 0) fail("malformed diagnostic");
    (void)d.str();
  }
  for (const boxd::specs::ParsedPod& p : r.pods) checkPod(p.spec);
  for (const boxd::specs::ParsedSecret& s : r.secrets) checkSecret(s.secret);
  if (!r.secrets.empty() && !r.holdsSecret) fail("secrets parsed from a file not marked as such");
  return 0;
}
