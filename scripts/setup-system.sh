#!/usr/bin/env bash
# Installs the Debian packages the engine needs on a fresh machine, skipping what is present:
# Mesa's EGL/GLES (llvmpipe), the Vulkan loader, and Chromium (SwiftShader's Vulkan ICD, and the
# browser suite). Needs root (or sudo).
set -euo pipefail
pkgs=(libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri libvulkan1 chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "system packages ready"
