// The files of an OCI image layout being written by a pull. A blob streams into
// blobs/sha256/.tmp-<random>, hashed and counted as it arrives; commit() renames it to its
// digest only when size and SHA-256 match. removeAll() undoes the whole layout.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::images {

class BlobFile {
 public:
  BlobFile(Fd fd, std::string tmpPath, std::string finalPath, std::string digest, int64_t size);
  ~BlobFile();
  BlobFile(const BlobFile&) = delete;
  BlobFile& operator=(const BlobFile&) = delete;

  // False stops the transfer: more bytes than the descriptor's size, or a write failed.
  bool write(const char* data, size_t len);
  void restart();  // a retry starts from byte 0
  // Verifies size and digest, then renames into place. `from` names the registry in errors.
  Status commit(const std::string& from);
  void discard();  // removes the temporary file

 private:
  Fd fd_;
  std::string tmp_, final_, digest_;
  int64_t expected_ = 0;
  int64_t written_ = 0;
  bool tooLarge_ = false;
  int writeErrno_ = 0;
  EVP_MD_CTX* md_ = nullptr;
};

class LayoutFiles {
 public:
  // dir must be absent (it is created, and removed again by removeAll) or empty.
  static Result<LayoutFiles> create(const std::string& dir);

  Result<std::unique_ptr<BlobFile>> openBlob(const std::string& digest, int64_t size);
  Status writeBlob(const std::string& digest, std::string_view content);
  // index.json, then oci-layout.
  Status writeIndex(const std::string& indexJson);
  void removeAll();

 private:
  std::string dir_;
  bool created_ = false;
};

}  // namespace boxd::images
