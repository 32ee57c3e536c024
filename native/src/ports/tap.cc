// TAP port driver: to be written.
#include "../binding.h"

namespace vnf {
void RegisterTap(Napi::Env, Napi::Object) {}
}  // namespace vnf
