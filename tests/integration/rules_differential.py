"""Writes a request list of tricky variants for the differential test: encodings (single, double,
mixed case hex, %u, '+'), case, path tricks ('//', '/./', '%2f', '%2e'), NUL and non-ASCII bytes,
the cookie rules' separators. Every request carries expect=blocked; the test compares offline
and live verdicts, not these expectations. usage: rules_differential.py OUT"""
import json
import sys

targets = []
words = ["powershell", "PowerShell", "%50owershell", "%70%6f%77%65%72%73%68%65%6c%6c", "%2550owershell",
         "power%73hell", "%u0050owershell", "p%4Fwershell", "powershel%6C", "powers+hell", "power%00shell",
         "powershell%", "%%50owershell", "pow%C3%A9rshell"]
prefixes = ["/autodiscover/autodiscover.json?@evil.com/", "/AUTODISCOVER/autodiscover.json?@x/",
            "/autodiscover%2Fautodiscover.json?@x/", "//autodiscover//autodiscover.json?a=", "/./autodiscover/./x?",
            "/autodiscover%2Ejson?@x/", "/owa/?q=", "/ews/", "/mapi/?x=autodiscover&y="]
for p in prefixes:
    for w in words:
        targets.append(p + w)
cookies = ["X-BEResource=localhost/EWS/Exchange.asmx?a=~1942062522", "X-BEResource=a%2Fb~c", "x-beresource=a/b~c",
           "X-BEResource=mailbox01", "X-AnonResource-Backend=localhost/ecp/default.flt?~3",
           "X-AnonResource-Backend=a%2Fb%7Ec", "a=1; X-BEResource=x/y~z", "X-BEResource=x/y", "X-BEResourceX=a/b~c"]
requests = [{"request": {"method": "GET", "target": t}, "expect": "blocked"} for t in targets]
requests += [{"request": {"method": "GET", "target": "/owa/auth/x.js", "headers": {"Cookie": c}}, "expect": "blocked"}
             for c in cookies]
requests += [{"request": {"method": m, "target": t}, "expect": "blocked"}
             for m in ["GET", "POST"] for t in ["/ecp/", "/ECP/default.aspx", "/ecp", "/ecpx/", "/%65cp/", "/owa/../ecp/"]]
# T1 (rules_differential_T1.json): scope, two conditions, a negated one, a decoded query.
for method in ["POST", "GET", "PUT"]:
    for target in ["/owa/x", "/OWA/", "/owa", "/owax/", "/ecp/x", "/owa/%2e%2e/ecp/", "/%6Fwa/x"]:
        for agent in ["curl/7.88", "Curl/8", "xcurl/7", "curl/x", "Mozilla/5.0"]:
            requests.append({"request": {"method": method, "target": target, "headers": {"User-Agent": agent}},
                             "expect": "blocked"})
for query in ["redirect=https://evil", "a=1&redirect=http://x", "redirect=https%3A%2F%2Fevil", "xredirect=http://e",
              "redirect=ftp://e", "REDIRECT=HTTPS://E", "redirect=https:/evil", "a=1&redirect%3Dhttp://x"]:
    for referer in [None, "https://mail.example.com/owa/", "https://mail.example.com.evil/", "HTTPS://MAIL.EXAMPLE.COM/"]:
        request = {"method": "GET", "target": "/owa/?" + query}
        if referer:
            request["headers"] = {"Referer": referer}
        requests.append({"request": request, "expect": "blocked"})
json.dump({"requests": requests}, open(sys.argv[1], "w"), indent=1)
