"""Receives journal native-protocol datagrams on SOCKET (as systemd-journald would) and writes one
JSON object per entry to OUT. usage: journal_sink.py SOCKET OUT"""
import json
import socket
import struct
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(out + ".ready", "w").close()
while True:
    data = s.recv(1 << 20)
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode()
            i = nl + 1
        else:  # KEY\n<le64 length><value>\n
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            fields[line.decode()] = data[nl + 9:nl + 9 + n].decode()
            i = nl + 9 + n + 1
    with open(out, "a") as f:
        f.write(json.dumps(fields) + "\n")
