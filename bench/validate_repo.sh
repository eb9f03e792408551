#!/bin/sh
# Times `boxctl validate` on a generated repo of N specs (default 300): each a two-container pod
# with an emptyDir, ports, env and resources, the size of a typical service's spec. Prints the
# wall time of a cold and a warm run. Usage: bench/validate_repo.sh BOXCTL [N]
set -eu
boxctl=$1
n=${2:-300}
dir=$(mktemp -d /tmp/boxd-validate-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT
i=0
while [ "$i" -lt "$n" ]; do
  cat > "$dir/pod-$i.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: pod-$i
  labels: {app: pod-$i, tier: web}
spec:
  restartPolicy: Always
  volumes:
  - name: cache
    emptyDir: {sizeLimit: 64Mi}
  containers:
  - name: app
    image: busybox:1.36
    command: [sh, -c, 'exec httpd -f -p 8080']
    env:
    - {name: MODE, value: production}
    - {name: INDEX, value: "$i"}
    ports: [{containerPort: 8080, hostPort: $((20000 + i))}]
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {cpu: 500m, memory: 128Mi}
    volumeMounts: [{name: cache, mountPath: /cache}]
  - name: sidecar
    image: busybox:1.36
    command: [sh, -c, 'while true; do sleep 30; done']
    resources:
      limits: {cpu: 50m, memory: 16Mi}
YAML
  i=$((i + 1))
done
for run in cold warm; do
  start=$(date +%s%N)
  "$boxctl" validate "$dir" >/dev/null 2>&1 || { echo "validate failed"; exit 1; }
  end=$(date +%s%N)
  echo "$run: $n specs validated in $(( (end - start) / 1000000 )) ms"
done
