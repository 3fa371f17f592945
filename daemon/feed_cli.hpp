#pragma once
// `mitigctl feed ...`: the publisher (keygen, init, add, remove, set-role, publish, verify) and
// `feed client`, which speaks the command-line protocol of the TUF conformance suite.
#include <string>
#include <vector>

namespace mitigd {

int run_feed_command(const std::vector<std::string>& args, bool json_out);

}  // namespace mitigd
