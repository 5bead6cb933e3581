# Removes the record dumps of earlier runs: the suites append to them, and a dump from another
# build must not be validated (or pass) as if this run had written it.
#   cmake -D RECORDS_DIR=... -P reset_records.cmake
if(NOT RECORDS_DIR)
  message(FATAL_ERROR "RECORDS_DIR is not set")
endif()
file(GLOB dumps "${RECORDS_DIR}/*.ndjson")
if(dumps)
  file(REMOVE ${dumps})
endif()
file(MAKE_DIRECTORY "${RECORDS_DIR}")
list(LENGTH dumps removed)
message(STATUS "removed ${removed} record dumps from ${RECORDS_DIR}")
