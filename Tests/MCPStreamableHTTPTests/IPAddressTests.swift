import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct IPAddressTests {
    @Test(arguments: [
        // IPv4
        ("0.0.0.0", IPAddress.Category.unspecified), ("0.1.2.3", .unspecified),
        ("127.0.0.1", .loopback), ("127.255.255.254", .loopback),
        ("10.0.0.1", .private), ("10.255.255.255", .private),
        ("172.16.0.1", .private), ("172.31.255.255", .private), ("172.32.0.1", .global), ("172.15.255.255", .global),
        ("192.168.0.1", .private), ("192.169.0.1", .global),
        ("100.64.0.1", .sharedAddressSpace), ("100.127.255.255", .sharedAddressSpace), ("100.128.0.1", .global),
        ("169.254.169.254", .linkLocal), ("169.254.0.1", .linkLocal),
        ("224.0.0.1", .multicast), ("239.255.255.250", .multicast),
        ("255.255.255.255", .broadcast), ("240.0.0.1", .reserved), ("250.1.2.3", .reserved),
        ("192.0.0.8", .reserved), ("192.0.2.1", .reserved), ("198.51.100.7", .reserved), ("203.0.113.9", .reserved),
        ("198.18.0.1", .reserved), ("198.19.255.255", .reserved), ("192.88.99.1", .reserved),
        ("8.8.8.8", .global), ("1.1.1.1", .global), ("93.184.216.34", .global), ("223.255.255.254", .global),
        // IPv6
        ("::", .unspecified), ("::1", .loopback), ("[::1]", .loopback),
        ("fe80::1", .linkLocal), ("febf::1", .linkLocal), ("fec0::1", .private),
        ("fc00::1", .private), ("fd12:3456::1", .private),
        ("ff02::1", .multicast), ("ff0e::1", .multicast),
        ("2001:db8::1", .reserved), ("2001::1", .reserved), ("3fff::1", .reserved), ("100::1", .reserved),
        ("::1.2.3.4", .reserved), ("4000::1", .reserved),
        ("64:ff9b:1::1", .private),
        ("2606:4700:4700::1111", .global), ("2a00:1450:4001::1", .global), ("2001:4860:4860::8888", .global),
        // IPv4-mapped, NAT64 and 6to4 forms carry their IPv4 address's category
        ("::ffff:127.0.0.1", .loopback), ("::ffff:7f00:1", .loopback), ("::ffff:169.254.169.254", .linkLocal),
        ("::ffff:10.0.0.1", .private), ("::ffff:0.0.0.0", .unspecified), ("::ffff:8.8.8.8", .global),
        ("64:ff9b::a9fe:a9fe", .linkLocal), ("64:ff9b::127.0.0.1", .loopback), ("64:ff9b::8.8.8.8", .global),
        ("2002:7f00:1::", .loopback), ("2002:c0a8:101::1", .private), ("2002:0808:0808::1", .global),
    ])
    func categoryOfEachRange(text: String, expected: IPAddress.Category) throws {
        let address = try #require(IPAddress(text))
        #expect(address.category == expected, "\(text)")
        #expect(address.isGlobal == (expected == .global))
    }

    @Test(arguments: ["", "example.com", "1.2.3", "256.1.1.1", "::g", "fe80::1%eth0", "1.2.3.4.5"])
    func rejectsNonAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func textRoundTrips() throws {
        #expect(try #require(IPAddress("192.0.2.1")).description == "192.0.2.1")
        #expect(try #require(IPAddress("2001:0db8:0000::0001")).description == "2001:db8::1")
        #expect(try #require(IPAddress("[::ffff:127.0.0.1]")).description == "::ffff:127.0.0.1")
        #expect(IPAddress("::ffff:127.0.0.1") != IPAddress("127.0.0.1"))
    }
}
