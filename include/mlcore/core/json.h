// mlcore::Json: the JSON value the public API passes (pipeline parameters, run outputs, artifact
// metadata, model-registry metrics). It is mlcore's own type, with a layout fixed by this header,
// so an application's own JSON library and its settings (nlohmann's JSON_DIAGNOSTICS, another
// version of it) can never change what crosses the library boundary. Its interface follows the
// common nlohmann::json spellings (get<T>(), is_object(), operator[], items(), dump(), parse())
// so code reads the same; parse() and dump() give byte-for-byte nlohmann's results (keys sorted,
// the same number formatting), which the pipeline's digests rely on.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace mlcore {

// Thrown by parse() (unless allow_exceptions is false), get<T>() of the wrong kind and at() of a
// missing key or index, as nlohmann::json throws.
class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Json {
 public:
  enum class value_t : uint8_t {
    null,
    object,
    array,
    string,
    boolean,
    number_integer,
    number_unsigned,
    number_float,
    discarded,  // what parse(text, nullptr, false) returns for text that is not JSON
  };
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;  // sorted keys, as nlohmann keeps them

  template <bool kConst>
  class Iterator;
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

  Json() = default;
  Json(std::nullptr_t) {}                              // NOLINT: implicit, as a JSON literal
  Json(bool b) : type_(value_t::boolean), bool_(b) {}  // NOLINT
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) Json(T n) {  // NOLINT
    if constexpr (std::is_signed_v<T>) {
      type_ = value_t::number_integer;
      int_ = static_cast<int64_t>(n);
    } else {
      type_ = value_t::number_unsigned;
      uint_ = static_cast<uint64_t>(n);
    }
  }
  template <std::floating_point T>
  Json(T x) : type_(value_t::number_float), float_(static_cast<double>(x)) {}  // NOLINT
  Json(const char* s) : type_(value_t::string), string_(s) {}                  // NOLINT
  Json(std::string s) : type_(value_t::string), string_(std::move(s)) {}       // NOLINT
  Json(std::string_view s) : type_(value_t::string), string_(s) {}             // NOLINT
  // {{"key", value}, ...} is an object; any other list is an array (nlohmann's rule).
  Json(std::initializer_list<Json> items);  // NOLINT
  // A std::map / unordered_map from strings: an object.
  template <typename M>
  requires requires(const M& m) {
    typename M::mapped_type;
    { m.begin()->first } -> std::convertible_to<std::string_view>;
    requires std::constructible_from<Json, const typename M::mapped_type&>;
  }
  Json(const M& m) : type_(value_t::object), object_(std::make_unique<Object>()) {  // NOLINT
    for (const auto& [k, v] : m) object_->insert_or_assign(std::string(k), Json(v));
  }
  // A std::vector (or other sequence) of anything a Json is made from: an array.
  template <typename S>
  requires(
      !std::same_as<S, Json> && !std::convertible_to<S, std::string_view> &&
      !requires { typename S::mapped_type; } && requires { typename S::value_type; } &&
      !std::same_as<std::remove_cvref_t<typename S::value_type>, S> &&
      requires(const S& s) {
        s.begin();
        s.end();
        requires std::constructible_from<Json, decltype(*s.begin())>;
      }) Json(const S& s)
      : type_(value_t::array), array_(std::make_unique<Array>()) {  // NOLINT
    for (const auto& v : s) array_->emplace_back(v);
  }

  Json(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(const Json& other);
  Json& operator=(Json&& other) noexcept;
  ~Json();

  static Json object(std::initializer_list<Json> items = {});
  static Json array(std::initializer_list<Json> items = {});
  // Parses JSON text. Not JSON: throws JsonError, or returns a discarded value when
  // allow_exceptions is false (the second argument is nlohmann's callback slot: pass nullptr).
  static Json parse(std::string_view text, std::nullptr_t = nullptr, bool allow_exceptions = true);
  static Json parse(std::istream& in, std::nullptr_t = nullptr, bool allow_exceptions = true);
  // The text, compact (indent < 0) or pretty-printed with `indent` spaces.
  std::string dump(int indent = -1) const;

  value_t type() const { return type_; }
  const char* type_name() const;
  bool is_null() const { return type_ == value_t::null; }
  bool is_boolean() const { return type_ == value_t::boolean; }
  bool is_number() const { return is_number_integer() || type_ == value_t::number_float; }
  bool is_number_integer() const {
    return type_ == value_t::number_integer || type_ == value_t::number_unsigned;
  }
  bool is_number_unsigned() const { return type_ == value_t::number_unsigned; }
  bool is_number_float() const { return type_ == value_t::number_float; }
  bool is_string() const { return type_ == value_t::string; }
  bool is_array() const { return type_ == value_t::array; }
  bool is_object() const { return type_ == value_t::object; }
  bool is_structured() const { return is_array() || is_object(); }
  bool is_primitive() const { return !is_structured() && !is_discarded(); }
  bool is_discarded() const { return type_ == value_t::discarded; }

  // The value as T: bool, an integer or floating type (numbers convert), std::string, Json, or a
  // std::vector / std::map<std::string, ...> of those. Another kind throws JsonError.
  template <typename T>
  T get() const;
  template <typename T>
  void get_to(T& out) const {
    out = get<T>();
  }
  // The string, by reference (throws JsonError unless a string).
  const std::string& get_ref() const;

  // Objects. operator[] on null makes it an object; on a const object a missing key throws.
  Json& operator[](std::string_view key);
  Json& operator[](const char* key) { return (*this)[std::string_view(key)]; }
  const Json& operator[](std::string_view key) const { return at(key); }
  const Json& operator[](const char* key) const { return at(std::string_view(key)); }
  Json& at(std::string_view key);
  const Json& at(std::string_view key) const;
  bool contains(std::string_view key) const;
  size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
  iterator find(std::string_view key);
  const_iterator find(std::string_view key) const;
  size_t erase(std::string_view key);
  // The value at `key`, or `fallback` when this is not an object or lacks the key.
  template <typename T>
  auto value(std::string_view key, const T& fallback) const {
    using R =
        std::conditional_t<std::is_convertible_v<T, std::string_view> && !std::is_same_v<T, Json>,
                           std::string, T>;
    if (!is_object()) return R(fallback);
    auto it = object_->find(key);
    return it == object_->end() ? R(fallback) : it->second.template get<R>();
  }
  // Adds `other`'s keys, replacing those already here (both must be objects; null becomes one).
  void update(const Json& other);
  std::pair<iterator, bool> emplace(std::string key, Json value);
  // The object's entries (key, value) for structured bindings; empty for anything else.
  Object& items();
  const Object& items() const;

  // Arrays. operator[] on null makes it an array and grows it to reach `index`.
  template <std::integral I>
  Json& operator[](I index) {
    return Element(static_cast<size_t>(index));
  }
  template <std::integral I>
  const Json& operator[](I index) const {
    return at(static_cast<size_t>(index));
  }
  Json& at(size_t index);
  const Json& at(size_t index) const;
  void push_back(Json value);  // null becomes an array
  template <typename... Args>
  Json& emplace_back(Args&&... args) {
    push_back(Json(std::forward<Args>(args)...));
    return back();
  }
  Json& back();
  const Json& back() const;
  Json& front();
  const Json& front() const;

  // Elements of an array or values of an object (nothing for other kinds).
  size_t size() const;  // 1 for a scalar, 0 for null, as nlohmann counts
  bool empty() const { return size() == 0; }
  void clear();
  iterator begin();
  iterator end();
  const_iterator begin() const;
  const_iterator end() const;

  // Numbers compare by value across integer and floating kinds; the rest by kind and content.
  friend bool operator==(const Json& a, const Json& b);
  // Numbers order by value; values of different kinds order null < boolean < number < object <
  // array < string, as nlohmann orders them.
  friend bool operator<(const Json& a, const Json& b);
  friend bool operator>(const Json& a, const Json& b) { return b < a; }
  friend bool operator<=(const Json& a, const Json& b) { return !(b < a); }
  friend bool operator>=(const Json& a, const Json& b) { return !(a < b); }
  friend std::ostream& operator<<(std::ostream& os, const Json& j);

 private:
  Json& Element(size_t index);
  bool GetBool() const;
  int64_t GetInt() const;
  uint64_t GetUnsigned() const;
  double GetDouble() const;
  const std::string& GetString() const;
  [[noreturn]] void TypeError(const char* wanted) const;

  value_t type_ = value_t::null;
  bool bool_ = false;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  double float_ = 0;
  std::string string_;
  std::unique_ptr<Array> array_;
  std::unique_ptr<Object> object_;
};

// Over an array's elements or an object's values; key() names an object entry.
template <bool kConst>
class Json::Iterator {
 public:
  using ArrayIt = std::conditional_t<kConst, Array::const_iterator, Array::iterator>;
  using ObjectIt = std::conditional_t<kConst, Object::const_iterator, Object::iterator>;
  using value_type = Json;
  using reference = std::conditional_t<kConst, const Json&, Json&>;
  using pointer = std::conditional_t<kConst, const Json*, Json*>;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::forward_iterator_tag;

  Iterator() = default;
  explicit Iterator(ArrayIt it) : kind_(kArray), array_(it) {}
  explicit Iterator(ObjectIt it) : kind_(kObject), object_(it) {}
  template <bool kFromMutable = !kConst>
  requires kFromMutable operator Iterator<true>() const {  // NOLINT: iterator to const_iterator
    if (kind_ == kArray) return Iterator<true>(typename Iterator<true>::ArrayIt(array_));
    if (kind_ == kObject) return Iterator<true>(typename Iterator<true>::ObjectIt(object_));
    return {};
  }

  reference operator*() const { return kind_ == kObject ? object_->second : *array_; }
  pointer operator->() const { return &**this; }
  reference value() const { return **this; }
  // The entry's key (objects only; throws JsonError for an array's element).
  const std::string& key() const {
    if (kind_ != kObject) throw JsonError("cannot use key() with an array iterator");
    return object_->first;
  }
  Iterator& operator++() {
    if (kind_ == kObject) ++object_;
    if (kind_ == kArray) ++array_;
    return *this;
  }
  Iterator operator++(int) {
    Iterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const Iterator& o) const {
    if (kind_ != o.kind_) return false;
    if (kind_ == kObject) return object_ == o.object_;
    if (kind_ == kArray) return array_ == o.array_;
    return true;
  }

 private:
  enum Kind : uint8_t { kNone, kArray, kObject };
  Kind kind_ = kNone;
  ArrayIt array_{};
  ObjectIt object_{};
};

namespace json_internal {
template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};
template <typename T>
struct IsStringMap : std::false_type {};
template <typename V, typename C, typename A>
struct IsStringMap<std::map<std::string, V, C, A>> : std::true_type {};
template <typename T>
inline constexpr bool kAlwaysFalse = false;
}  // namespace json_internal

template <typename T>
T Json::get() const {
  if constexpr (std::is_same_v<T, Json>) {
    return *this;
  } else if constexpr (std::is_same_v<T, bool>) {
    return GetBool();
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    return static_cast<T>(GetUnsigned());
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(GetInt());
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(GetDouble());
  } else if constexpr (std::is_same_v<T, std::string>) {
    return GetString();
  } else if constexpr (json_internal::IsVector<T>::value) {
    if (!is_array()) TypeError("array");
    T out;
    for (const Json& v : *array_) out.push_back(v.template get<typename T::value_type>());
    return out;
  } else if constexpr (json_internal::IsStringMap<T>::value) {
    if (!is_object()) TypeError("object");
    T out;
    for (const auto& [k, v] : *object_) out.emplace(k, v.template get<typename T::mapped_type>());
    return out;
  } else {
    static_assert(json_internal::kAlwaysFalse<T>, "Json::get<T>: unsupported T");
  }
}

}  // namespace mlcore
