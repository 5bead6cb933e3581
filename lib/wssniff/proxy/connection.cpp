// The connection's operations, compiled once for the four stream combinations the acceptor
// opens (plain or TLS toward the client, plain or TLS toward the upstream).

#include "wssniff/proxy/connection.hpp"

#include "wssniff/proxy/deadlines.hpp"
#include "wssniff/proxy/dialing.hpp"
#include "wssniff/proxy/forward_requests.hpp"
#include "wssniff/proxy/gateway_answers.hpp"
#include "wssniff/proxy/pump.hpp"
#include "wssniff/proxy/teardown.hpp"

namespace wssniff::proxy {

template class connection<plain_stream, plain_stream>;
template class connection<plain_stream, tls_stream>;
template class connection<tls_stream, plain_stream>;
template class connection<tls_stream, tls_stream>;

} // namespace wssniff::proxy
