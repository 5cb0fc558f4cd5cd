# Object storage (src/store/s3*): libcurl (Debian's libcurl4-openssl-dev) carries the HTTP; the
# signing uses OpenSSL, which the store links already. There is no C++ AWS SDK in Debian.
find_package(CURL REQUIRED)
target_link_libraries(mlcore PRIVATE CURL::libcurl)
