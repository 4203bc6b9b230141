import Testing

@testable import MCPHandlers

@Suite struct URITemplateTests {
    @Test(arguments: [
        ("test://template/{id}/data", "test://template/123/data", ["id": "123"]),
        ("file:///{path}", "file:///readme.md", ["path": "readme.md"]),
        ("db://{schema}/{table}", "db://public/users", ["schema": "public", "table": "users"]),
        ("x://{a,b}/end", "x://1,2/end", ["a": "1", "b": "2"]),
        ("x://{a,b}/end", "x://1/end", ["a": "1"]),
        ("x://{q}", "x://caf%C3%A9", ["q": "café"]),
        ("x://{q}", "x://100%", ["q": "100%"]),
        ("x://{id}.json", "x://a.b.json", ["id": "a.b"]),
        ("plain://no-vars", "plain://no-vars", [:]),
    ] as [(String, String, [String: String])])
    func matches(_ template: String, _ uri: String, _ expected: [String: String]) {
        #expect(URITemplate(template).match(uri) == expected)
    }

    @Test(arguments: [
        ("test://template/{id}/data", "test://template//data"),
        ("test://template/{id}/data", "test://template/1/2/data"),
        ("test://template/{id}/data", "test://template/1/data/"),
        ("test://template/{id}/data", "other://template/1/data"),
        ("file:///{path}", "file:///a/b"),
        ("x://{q}", "x://a?b"),
        ("x://{a,b}/end", "x://1,2,3/end"),
        ("plain://no-vars", "plain://no-vars-2"),
    ])
    func rejects(_ template: String, _ uri: String) {
        #expect(URITemplate(template).match(uri) == nil)
    }

    @Test func unsupportedExpressionsAreLiteral() {
        let reserved = URITemplate("x://{+path}")
        #expect(reserved.variableNames.isEmpty)
        #expect(reserved.match("x://{+path}") == [:])
        #expect(reserved.match("x://a/b") == nil)
        #expect(URITemplate("x://{unclosed").match("x://{unclosed") == [:])
    }

    @Test func variableNamesAndExpansion() {
        let template = URITemplate("db://{schema}/{table}?{a,b}")
        #expect(template.variableNames == ["schema", "table", "a", "b"])
        #expect(template.expand(["schema": "my schema", "table": "t/1", "a": "x"]) == "db://my%20schema/t%2F1?x")
        let roundTrip = URITemplate("test://template/{id}/data")
        #expect(roundTrip.match(roundTrip.expand(["id": "é/?#"])) == ["id": "é/?#"])
    }
}
