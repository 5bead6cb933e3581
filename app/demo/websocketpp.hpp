#pragma once
// websocketpp 0.8.2 for the demo's peers, behind one include.
//
// Its templates are instantiated in our files, so -Wconversion, -Wsign-conversion and -Wshadow
// fire from code we cannot change even though /usr/include is a system directory; they are
// silenced for these headers only.

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>
#pragma GCC diagnostic pop
