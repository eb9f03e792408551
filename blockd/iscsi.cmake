# The iSCSI backend of boxd-blockd (libiscsi). Included from the top-level CMakeLists.txt in the
# blockd-iscsi branch; moves into blockd/CMakeLists.txt at merge.
pkg_check_modules(LIBISCSI REQUIRED IMPORTED_TARGET libiscsi)

add_library(boxd_blockd_iscsi STATIC
  ${CMAKE_CURRENT_LIST_DIR}/iscsi_backend.cc
  ${CMAKE_CURRENT_LIST_DIR}/iscsi_session.cc
  ${CMAKE_CURRENT_LIST_DIR}/iscsi_discovery.cc
  ${CMAKE_CURRENT_LIST_DIR}/iscsi_scsi.cc)
target_include_directories(boxd_blockd_iscsi PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(boxd_blockd_iscsi
  PUBLIC boxd_common nlohmann_json::nlohmann_json Threads::Threads
  PRIVATE PkgConfig::LIBISCSI)
