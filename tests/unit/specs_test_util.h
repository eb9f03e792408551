// Helpers shared by the specs tests: diagnostics as the lines a user reads.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "specs/parse.h"

namespace boxd::specs {

inline std::vector<std::string> errorLines(const ParseResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.str());
  return out;
}

// A pod named p whose spec is the given YAML lines (indented two spaces).
inline std::string podWith(std::string_view spec) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + std::string(spec);
}

// The diagnostics of content parsed as f.yaml; content that parses cleanly fails the test.
inline std::vector<std::string> errorsOf(std::string_view content) {
  ParseResult r = parseSpecFile("f.yaml", content);
  EXPECT_FALSE(r.ok()) << "expected errors for:\n" << content;
  return errorLines(r);
}

}  // namespace boxd::specs
