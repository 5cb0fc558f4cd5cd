// The code version of a callable component that names none (Component::EffectiveCodeVersion).
#pragma once

#include <string>

#include "mlcore/pipeline/component.h"

namespace mlcore::pipeline {

// ProgramCodeVersion(), plus the build-id of the object defining `fn` when that object is in a
// system library directory (which ProgramCodeVersion leaves out): a library of callables
// installed in /usr/lib still changes the cache key when it is rebuilt.
std::string CallableCodeVersion(const Callable& fn);

}  // namespace mlcore::pipeline
