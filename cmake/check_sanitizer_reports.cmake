# cmake -D REPORTS_DIR=DIR -P check_sanitizer_reports.cmake
# Fails, printing each one, when a sanitizer wrote a report into DIR (cmake/sanitizers.cmake).
file(GLOB reports LIST_DIRECTORIES false "${REPORTS_DIR}/*")
if(NOT reports)
  message(STATUS "no sanitizer reports in ${REPORTS_DIR}")
  return()
endif()
list(LENGTH reports count)
foreach(report IN LISTS reports)
  file(READ "${report}" text)
  message("==== ${report}\n${text}")
endforeach()
message(FATAL_ERROR "${count} sanitizer report file(s) in ${REPORTS_DIR}")
