# The iSCSI backend's pure helpers: SCSI data parsing, outcome mapping, error texts, LUN names.
boxd_test(blockd_iscsi_unit_test LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blockd_iscsi_scsi_test.cc
  LIBS boxd_blockd_iscsi)
