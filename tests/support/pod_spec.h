// A Pod parsed from its spec's lines (indented by two spaces, "  containers: ..."), for the unit
// tests of code that reads a PodSpec. A parse error fails the test and gives an empty spec.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "specs/parse.h"

namespace boxd::testing {

inline specs::PodSpec parsePod(const std::string& specLines) {
  specs::ParseResult r = specs::parseSpecFile(
      "f.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + specLines);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.ok() ? r.pods[0].spec : specs::PodSpec{};
}

}  // namespace boxd::testing
