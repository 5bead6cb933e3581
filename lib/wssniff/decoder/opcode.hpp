#pragma once
// The decoder's names for the RFC 6455 opcodes. They are defined in base (wssniff/base/opcode.hpp)
// so that the record writer can name opcodes without depending on the decoder; code written
// against wssniff::decoder::opcode, op_name, is_control and is_reserved keeps working.

#include "wssniff/base/opcode.hpp"

namespace wssniff::decoder {

using wssniff::is_control;
using wssniff::is_message_start;
using wssniff::is_reserved;
using wssniff::op_name;
using wssniff::opcode;
using wssniff::to_raw;

} // namespace wssniff::decoder
