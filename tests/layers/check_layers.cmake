# The layer table of README.md ("Layout"), checked against the sources: every
# `#include "wssniff/<unit>/..."` in lib/wssniff/<unit>/ must name the unit itself or one the
# table lets it use, and every folder under lib/wssniff/ must be in the table.
#
#   cmake -DLIB_DIR=<source>/lib -P check_layers.cmake
#
# The table below is the only copy: change it together with README.md's. "may use" is read as
# the README means it: a unit may use the units it names and, through them, what they may use
# (session uses "the above"; proxy uses session and so everything session may use). Asio, which
# only the relay may know (DESIGN.md "Layers"), is checked the same way.

cmake_minimum_required(VERSION 3.25)

set(layer_units base decoder handshake inflate record filter session proxy archive compare playback
                har tcp pcap expect report)
set(may_use_base)
set(may_use_decoder base)
set(may_use_handshake base)
set(may_use_inflate base)
set(may_use_record base)
set(may_use_filter record)
set(may_use_session base decoder handshake inflate record)
set(may_use_proxy session filter)
set(may_use_archive record)
set(may_use_compare archive)
set(may_use_playback proxy archive)
set(may_use_har archive handshake)
set(may_use_tcp base)
set(may_use_pcap tcp)
set(may_use_expect compare record)
set(may_use_report archive)
set(may_use_asio proxy playback)

if(NOT LIB_DIR)
  message(FATAL_ERROR "usage: cmake -DLIB_DIR=<source>/lib -P check_layers.cmake")
endif()

# What `unit` may use, directly or through the units it uses.
function(layers_closure unit out)
  set(result ${unit})
  set(pending ${may_use_${unit}})
  while(pending)
    list(POP_FRONT pending next)
    if(NOT next IN_LIST result)
      list(APPEND result ${next})
      list(APPEND pending ${may_use_${next}})
    endif()
  endwhile()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

set(problems "")
file(GLOB folders LIST_DIRECTORIES true RELATIVE ${LIB_DIR}/wssniff ${LIB_DIR}/wssniff/*)
set(checked 0)
foreach(unit IN LISTS folders)
  if(NOT IS_DIRECTORY ${LIB_DIR}/wssniff/${unit})
    continue()
  endif()
  if(NOT unit IN_LIST layer_units)
    string(APPEND problems "  lib/wssniff/${unit}/: a folder the layer table does not have "
                           "(add it to README.md's Layout table and to tests/layers/check_layers.cmake)\n")
    continue()
  endif()
  layers_closure(${unit} allowed)
  file(GLOB_RECURSE sources ${LIB_DIR}/wssniff/${unit}/*.hpp ${LIB_DIR}/wssniff/${unit}/*.cpp
       ${LIB_DIR}/wssniff/${unit}/*.h ${LIB_DIR}/wssniff/${unit}/*.ipp)
  foreach(source IN LISTS sources)
    math(EXPR checked "${checked} + 1")
    file(RELATIVE_PATH shown ${LIB_DIR}/.. ${source})
    file(STRINGS ${source} lines)
    set(line_number 0)
    foreach(line IN LISTS lines)
      math(EXPR line_number "${line_number} + 1")
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[\"<]wssniff/([^/\">]+)/")
        set(used ${CMAKE_MATCH_1})
        if(NOT used IN_LIST allowed)
          list(JOIN allowed ", " allowed_text)
          string(APPEND problems "  ${shown}:${line_number}: ${unit} includes ${used} "
                                 "(${unit} may use: ${allowed_text})\n")
        endif()
      elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*<asio[./]")
        if(NOT unit IN_LIST may_use_asio)
          string(APPEND problems "  ${shown}:${line_number}: ${unit} includes Asio "
                                 "(only ${may_use_asio} may)\n")
        endif()
      endif()
    endforeach()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "no sources found under ${LIB_DIR}/wssniff")
endif()
if(problems)
  message(FATAL_ERROR "includes that break the layer table (README.md, Layout):\n${problems}")
endif()
message(STATUS "${checked} files under lib/wssniff follow the layer table")
