{
  "targets": [
    {
      "target_name": "herald_kerberos",
      "sources": ["s4u.cc"],
      "include_dirs": ["../../../../node_modules/node-addon-api"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "<!@(krb5-config --cflags gssapi)"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["<!@(krb5-config --libs gssapi)"]
    }
  ]
}
