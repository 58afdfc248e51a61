package http2

// staticField is an entry of the HPACK static table.
type staticField struct{ name, value []byte }

func sf(name, value string) staticField { return staticField{[]byte(name), []byte(value)} }

// staticTable is RFC 7541 Appendix A (index i is staticTable[i-1]).
var staticTable = [...]staticField{
	sf(":authority", ""),                   // 1
	sf(":method", "GET"),                   // 2
	sf(":method", "POST"),                  // 3
	sf(":path", "/"),                       // 4
	sf(":path", "/index.html"),             // 5
	sf(":scheme", "http"),                  // 6
	sf(":scheme", "https"),                 // 7
	sf(":status", "200"),                   // 8
	sf(":status", "204"),                   // 9
	sf(":status", "206"),                   // 10
	sf(":status", "304"),                   // 11
	sf(":status", "400"),                   // 12
	sf(":status", "404"),                   // 13
	sf(":status", "500"),                   // 14
	sf("accept-charset", ""),               // 15
	sf("accept-encoding", "gzip, deflate"), // 16
	sf("accept-language", ""),              // 17
	sf("accept-ranges", ""),                // 18
	sf("accept", ""),                       // 19
	sf("access-control-allow-origin", ""),  // 20
	sf("age", ""),                          // 21
	sf("allow", ""),                        // 22
	sf("authorization", ""),                // 23
	sf("cache-control", ""),                // 24
	sf("content-disposition", ""),          // 25
	sf("content-encoding", ""),             // 26
	sf("content-language", ""),             // 27
	sf("content-length", ""),               // 28
	sf("content-location", ""),             // 29
	sf("content-range", ""),                // 30
	sf("content-type", ""),                 // 31
	sf("cookie", ""),                       // 32
	sf("date", ""),                         // 33
	sf("etag", ""),                         // 34
	sf("expect", ""),                       // 35
	sf("expires", ""),                      // 36
	sf("from", ""),                         // 37
	sf("host", ""),                         // 38
	sf("if-match", ""),                     // 39
	sf("if-modified-since", ""),            // 40
	sf("if-none-match", ""),                // 41
	sf("if-range", ""),                     // 42
	sf("if-unmodified-since", ""),          // 43
	sf("last-modified", ""),                // 44
	sf("link", ""),                         // 45
	sf("location", ""),                     // 46
	sf("max-forwards", ""),                 // 47
	sf("proxy-authenticate", ""),           // 48
	sf("proxy-authorization", ""),          // 49
	sf("range", ""),                        // 50
	sf("referer", ""),                      // 51
	sf("refresh", ""),                      // 52
	sf("retry-after", ""),                  // 53
	sf("server", ""),                       // 54
	sf("set-cookie", ""),                   // 55
	sf("strict-transport-security", ""),    // 56
	sf("transfer-encoding", ""),            // 57
	sf("user-agent", ""),                   // 58
	sf("vary", ""),                         // 59
	sf("via", ""),                          // 60
	sf("www-authenticate", ""),             // 61
}
