#pragma once
// An --upstream that is the proxy's own listening address makes every connection connect to
// the proxy again, until descriptors run out. Caught at start, before anything is bound.

#include "wssniff/proxy/upstream_url.hpp"

#include <cstdint>
#include <string>

namespace wssniff::app {

// Whether connecting to `upstream` would reach a listener bound where the relay binds
// `listen_host:listen_port` (the first address the name resolves to). Port 0 is never equal:
// the port is picked at bind time among free ones. Names that do not resolve here compare
// unequal; connecting to them fails later with its own message.
bool upstream_is_listener(const proxy::upstream_url& upstream, const std::string& listen_host,
                          std::uint16_t listen_port);

} // namespace wssniff::app
