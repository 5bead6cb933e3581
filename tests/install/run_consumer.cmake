# Installs a wssniff build tree into a fresh prefix, configures and builds the consumer project
# against that prefix only, and runs the consumer. Fails at the first step that fails.
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DCONSUMER_DIR=... -DWORK_DIR=... -DGENERATOR=...
#         [-DBUILD_TYPE=...] [-DCXX_COMPILER=...] [-DCXX_LAUNCHER=...] -P run_consumer.cmake
cmake_minimum_required(VERSION 3.25)

foreach(required BUILD_DIR SOURCE_DIR CONSUMER_DIR WORK_DIR GENERATOR)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "run_consumer.cmake: ${required} is not set")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(consumer_build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${what} failed (${status}):\n${out}")
  endif()
  message(STATUS "${what}: done")
endfunction()

step("cmake --install into ${prefix}" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# Only the prefix: no package registry, no system-wide wssniff, nothing of the source tree.
set(configure ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${consumer_build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
if(BUILD_TYPE)
  # The same build type picks the same imported configuration of wssniff's targets; the
  # consumer's own code is compiled without optimisation or debug information, which is what
  # this check needs and a third of the time (its websocketpp peers are most of it).
  string(TOUPPER "${BUILD_TYPE}" build_type_upper)
  list(APPEND configure -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
       "-DCMAKE_CXX_FLAGS_${build_type_upper}=-O0 -g0")
endif()
if(CXX_COMPILER)
  list(APPEND configure -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(CXX_LAUNCHER)
  list(APPEND configure -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
step("configure the consumer" ${configure})

file(READ ${consumer_build}/CMakeCache.txt cache)
string(REGEX MATCH "wssniff_DIR:PATH=([^\n]*)" _ "${cache}")
if(NOT CMAKE_MATCH_1 STREQUAL "${prefix}/lib/cmake/wssniff"
   AND NOT CMAKE_MATCH_1 MATCHES "^${prefix}/")
  message(FATAL_ERROR "the consumer found wssniff at '${CMAKE_MATCH_1}', not in ${prefix}")
endif()

step("build the consumer" ${CMAKE_COMMAND} --build ${consumer_build} -j2)

# The compile lines must name the installed headers, never the source tree's.
file(READ ${consumer_build}/compile_commands.json commands)
string(FIND "${commands}" "${SOURCE_DIR}/lib" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "the consumer was compiled against ${SOURCE_DIR}/lib, not the install")
endif()

execute_process(COMMAND ${consumer_build}/wssniff_consumer RESULT_VARIABLE status
                TIMEOUT 60)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${status})")
endif()
message(STATUS "the consumer ran and saw what it expected")
