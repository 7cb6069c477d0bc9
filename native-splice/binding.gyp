# Builds build/Release/native_splice.node on Linux only: splice(2), epoll and eventfd are Linux
# APIs, so every other platform gets an empty target and index.js reports available=false.
{
  'targets': [
    {
      'target_name': 'native_splice',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['src/splice.cc'],
          'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
          # C++ exceptions stay off (node's common.gypi passes -fno-exceptions).
          'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS'],
          'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-O2'],
        }, {
          'type': 'none',
        }],
      ],
    },
  ],
}
