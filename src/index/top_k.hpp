#pragma once
// Internal: bounded selection of the k smallest (distance, key) pairs; ties order by key.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "domainsearch/index.hpp"

namespace domainsearch::detail {

class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) { heap_.reserve(k); }

  /// Cheap pre-test: can a hit at this distance still enter?
  bool admits(float distance) const noexcept { return heap_.size() < k_ || distance <= heap_.front().distance; }

  void push(const SearchHit& hit) {
    if (heap_.size() < k_) {
      heap_.push_back(hit);
      std::push_heap(heap_.begin(), heap_.end(), less);
    } else if (less(hit, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), less);
      heap_.back() = hit;
      std::push_heap(heap_.begin(), heap_.end(), less);
    }
  }

  /// The hits, nearest first; leaves the selector empty.
  std::vector<SearchHit> take_sorted() {
    std::sort(heap_.begin(), heap_.end(), less);
    return std::move(heap_);
  }

  static bool less(const SearchHit& a, const SearchHit& b) noexcept {
    return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
  }

 private:
  std::size_t k_;
  std::vector<SearchHit> heap_;  // max-heap on (distance, key)
};

}  // namespace domainsearch::detail
