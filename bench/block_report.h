// The block bench's figures, printed as an aligned table and written as JSON.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::bench {

// One kind of pod of the lifecycle rounds (iSCSI or RBD, blank or formatted volume).
struct PodTimes {
  std::vector<double> upMs;    // spec rename → the container's Started event
  std::vector<double> downMs;  // spec unlink → pod gone, helper exited, loop detached (+ logout)
  std::vector<double> deletedMs;  // spec unlink → boxd's Deleted event
  // Apply time of the block steps per pod, in ms (boxd's debug log): "blocksession" (helper up:
  // login or cluster connect), "blockdevice" (loop device), "blockfs" (probe, mkfs or fsck, mount).
  std::map<std::string, std::vector<double>> stepMs;
};

struct BlockFigures {
  int cores = 0;
  std::string kernel, loadStart, loadEnd;
  std::vector<double> loadSamples;  // 1-minute load average at each round
  int rounds = 0, podRounds = 0;
  int sizeMiB = 256, ioKiB = 1024;
  bool iscsi = true, rbd = true;

  // Throughput in MiB/s, one value per measured round (the warm-up round is not kept).
  std::vector<double> iscsiWrite, iscsiRead;  // the container's dd on the mounted LUN
  std::vector<double> rawWrite1, rawWrite8, rawRead1, rawRead8;  // libiscsi QD1 / QD8
  std::vector<double> rbdWrite, rbdRead;                         // the container's dd
  std::vector<double> rbdBenchWrite, rbdBenchRead;               // rbd bench
  std::vector<double> rbdBenchWriteNoCache;  // rbd bench --rbd_cache=false (as boxd-blockd)
  // Matched queue depth 1: the container's dd oflag=direct (one 1 MiB write at a time through
  // ext4, loop and boxd-blockd, over the file already written) vs rbd bench --io-threads 1.
  std::vector<double> rbdDirectWrite, rbdBenchWrite1;

  // The throughput pod's boxd-blockd after the rounds, in MiB: VmRSS and VmHWM (peak).
  double rbdHelperRssMiB = -1, rbdHelperPeakMiB = -1;

  PodTimes iscsiBlank, iscsiFormatted, rbdBlank, rbdFormatted;

  std::vector<std::string> leftovers;  // what cleanup had to remove by force
};

// Median over i of a[i] / b[i] (pairs measured in the same round); NaN when not measured.
double medianRatio(const std::vector<double>& a, const std::vector<double>& b);

std::string formatBlockTable(const BlockFigures& f);
nlohmann::json blockJson(const BlockFigures& f);

}  // namespace boxd::bench
