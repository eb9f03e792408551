# The layered image store (layouts, docker save, digests, migration, prune) and what a container
# runs from an image's config (Kubernetes' command/args table, env, workingDir, user).
# Layer progress of a pull into the store, and how boxctl shows it.
boxd_test(images_unit_tests LABEL unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/images_store_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_config_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_pull_policy_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/pull_progress_test.cc
  LIBS boxd_agent_core boxd_host LibArchive::LibArchive OpenSSL::Crypto)
