// Kubernetes' $(VAR) expansion, applied to env values (with the variables defined before them),
// and to command and args (with the container's whole environment):
//   $(NAME)  the variable's value when NAME is defined; left as written ("$(NAME)") when not
//   $$       one "$" (so "$$(NAME)" is the literal text "$(NAME)")
//   $x       "$x" unchanged, for any other x; a "$(" without ")" is left as it is
// Pure.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace boxd::agent {

using VarLookup = std::function<std::optional<std::string>(const std::string& name)>;

std::string expandVars(std::string_view in, const VarLookup& lookup);

}  // namespace boxd::agent
