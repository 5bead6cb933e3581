#pragma once
// How a forward-proxy client reached its server through wssniff (`proxy --mode forward`): the
// request form it used and the authority it named. A plain value the relay hands to the session
// for the handshake record, here so that the relay need not know record types.

#include <string>

namespace wssniff {

struct forward_hop {
    std::string mode;      // "connect" (a CONNECT tunnel) or "absolute" (GET http://...)
    std::string authority; // "host:port", an IPv6 address in brackets
};

} // namespace wssniff
