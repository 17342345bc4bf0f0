// Whole-program workload (issue #36): a C++ file for the compiler to chew
// on (bench/programs-run compiles it with clang++ -O1, each allocator
// preloaded into the compiler): many instantiations of standard
// containers, algorithms, variants and functions.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

template <int N>
struct Node {
  std::map<std::string, std::vector<int>> index;
  std::unordered_map<int, std::set<std::string>> reverse;
  std::variant<int, double, std::string, std::vector<Node<N - 1>*>> value;
  std::function<int(int)> fn = [](int x) { return x * N; };
  int Sum() const {
    int s = 0;
    for (const auto& [k, v] : index) s += std::accumulate(v.begin(), v.end(), 0) + int(k.size());
    for (const auto& [k, v] : reverse) s += k + int(v.size());
    return s + fn(N) + std::visit([](const auto& x) { return int(sizeof(x)); }, value);
  }
};
template <>
struct Node<0> {
  int Sum() const { return 0; }
};

template <int N>
int Build(std::optional<int> seed) {
  Node<N> node;
  for (int i = 0; i < N; ++i) node.index["k" + std::to_string(i)].push_back(i * seed.value_or(1));
  std::vector<std::tuple<int, std::string, double>> rows;
  for (int i = 0; i < N; ++i) rows.emplace_back(i, std::to_string(i), i * 0.5);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return std::get<1>(a) < std::get<1>(b); });
  std::ostringstream out;
  for (const auto& r : rows) out << std::get<0>(r) << std::get<1>(r) << std::get<2>(r);
  std::regex re("[0-9]+" + std::to_string(N));
  return node.Sum() + int(out.str().size()) + int(std::regex_search(out.str(), re)) + Build<N - 1>(seed);
}
template <>
int Build<0>(std::optional<int>) { return 0; }

#ifndef DEPTH
#define DEPTH 12
#endif
int main(int argc, char**) { return Build<DEPTH>(argc) & 1; }
