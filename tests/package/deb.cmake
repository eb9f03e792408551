# The Debian package end to end (tests/package/deb_test.sh): cpack, lintian, dpkg -i into the
# normal paths, the installed boxd running a pod, dpkg --purge. It installs into /usr, so it runs
# alone (RUN_SERIAL) and always purges what it installed. Skipped (77) without root or when a
# boxd not installed by this test is already on the machine.
add_test(NAME boxd_deb_package
         COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/deb_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
                 ${PROJECT_VERSION})
set_tests_properties(boxd_deb_package PROPERTIES LABELS "package;integration" RUN_SERIAL TRUE
                     TIMEOUT 900 SKIP_RETURN_CODE 77)
