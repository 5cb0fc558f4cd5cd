#include "mlcore/core/json.h"

#include <cmath>
#include <istream>
#include <iterator>
#include <ostream>

#include "core/json_nlohmann.h"

namespace mlcore {

Json::Json(std::initializer_list<Json> items) {
  bool is_object = true;
  for (const Json& item : items) {
    if (!item.is_array() || item.array_->size() != 2 || !(*item.array_)[0].is_string()) {
      is_object = false;
      break;
    }
  }
  if (is_object) {
    type_ = value_t::object;
    object_ = std::make_unique<Object>();
    for (const Json& item : items) {
      object_->insert_or_assign((*item.array_)[0].string_, (*item.array_)[1]);
    }
  } else {
    type_ = value_t::array;
    array_ = std::make_unique<Array>(items);
  }
}

Json::Json(const Json& other)
    : type_(other.type_),
      bool_(other.bool_),
      int_(other.int_),
      uint_(other.uint_),
      float_(other.float_),
      string_(other.string_),
      array_(other.array_ ? std::make_unique<Array>(*other.array_) : nullptr),
      object_(other.object_ ? std::make_unique<Object>(*other.object_) : nullptr) {}

Json::Json(Json&& other) noexcept
    : type_(other.type_),
      bool_(other.bool_),
      int_(other.int_),
      uint_(other.uint_),
      float_(other.float_),
      string_(std::move(other.string_)),
      array_(std::move(other.array_)),
      object_(std::move(other.object_)) {
  other.type_ = value_t::null;
}

Json& Json::operator=(const Json& other) {
  if (this != &other) *this = Json(other);
  return *this;
}

Json& Json::operator=(Json&& other) noexcept {
  if (this == &other) return *this;
  // `other` may live inside this value (j = j["key"]): move it out before releasing ours.
  Json moved(std::move(other));
  type_ = moved.type_;
  bool_ = moved.bool_;
  int_ = moved.int_;
  uint_ = moved.uint_;
  float_ = moved.float_;
  string_ = std::move(moved.string_);
  array_ = std::move(moved.array_);
  object_ = std::move(moved.object_);
  return *this;
}

Json::~Json() = default;

Json Json::object(std::initializer_list<Json> items) {
  Json out = items.size() == 0 ? Json() : Json(items);
  if (out.is_null()) {
    out.type_ = value_t::object;
    out.object_ = std::make_unique<Object>();
  }
  if (!out.is_object()) throw JsonError("cannot create an object from these values");
  return out;
}

Json Json::array(std::initializer_list<Json> items) {
  Json out;
  out.type_ = value_t::array;
  out.array_ = std::make_unique<Array>(items);
  return out;
}

Json Json::parse(std::string_view text, std::nullptr_t, bool allow_exceptions) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Parse again with exceptions only to get nlohmann's message (where and what went wrong).
    std::string message = "invalid JSON";
    try {
      nlohmann::json unused = nlohmann::json::parse(text);
      (void)unused;
    } catch (const nlohmann::json::exception& e) {
      message = e.what();
    }
    if (allow_exceptions) throw JsonError(message);
    Json out;
    out.type_ = value_t::discarded;
    return out;
  }
  return FromNlohmann(parsed);
}

Json Json::parse(std::istream& in, std::nullptr_t, bool allow_exceptions) {
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(text, nullptr, allow_exceptions);
}

std::string Json::dump(int indent) const { return ToNlohmann(*this).dump(indent); }

const char* Json::type_name() const {
  switch (type_) {
    case value_t::null:
      return "null";
    case value_t::object:
      return "object";
    case value_t::array:
      return "array";
    case value_t::string:
      return "string";
    case value_t::boolean:
      return "boolean";
    case value_t::discarded:
      return "discarded";
    default:
      return "number";
  }
}

void Json::TypeError(const char* wanted) const {
  throw JsonError(std::string("type must be ") + wanted + ", but is " + type_name());
}

bool Json::GetBool() const {
  if (!is_boolean()) TypeError("boolean");
  return bool_;
}

int64_t Json::GetInt() const {
  switch (type_) {
    case value_t::number_integer:
      return int_;
    case value_t::number_unsigned:
      return static_cast<int64_t>(uint_);
    case value_t::number_float:
      return static_cast<int64_t>(float_);
    case value_t::boolean:
      return bool_ ? 1 : 0;
    default:
      TypeError("number");
  }
}

uint64_t Json::GetUnsigned() const {
  if (type_ == value_t::number_unsigned) return uint_;
  if (type_ == value_t::number_float) return static_cast<uint64_t>(float_);
  return static_cast<uint64_t>(GetInt());
}

double Json::GetDouble() const {
  switch (type_) {
    case value_t::number_integer:
      return static_cast<double>(int_);
    case value_t::number_unsigned:
      return static_cast<double>(uint_);
    case value_t::number_float:
      return float_;
    case value_t::boolean:
      return bool_ ? 1 : 0;
    default:
      TypeError("number");
  }
}

const std::string& Json::GetString() const {
  if (!is_string()) TypeError("string");
  return string_;
}

const std::string& Json::get_ref() const { return GetString(); }

Json& Json::operator[](std::string_view key) {
  if (is_null()) *this = object();
  if (!is_object())
    throw JsonError(std::string("cannot use operator[] with a string on ") + type_name());
  auto it = object_->find(key);
  if (it == object_->end()) it = object_->emplace(std::string(key), Json()).first;
  return it->second;
}

Json& Json::at(std::string_view key) {
  return const_cast<Json&>(static_cast<const Json&>(*this).at(key));
}

const Json& Json::at(std::string_view key) const {
  if (!is_object()) throw JsonError(std::string("cannot use at() with ") + type_name());
  auto it = object_->find(key);
  if (it == object_->end()) throw JsonError("key '" + std::string(key) + "' not found");
  return it->second;
}

bool Json::contains(std::string_view key) const {
  return is_object() && object_->find(key) != object_->end();
}

Json::iterator Json::find(std::string_view key) {
  if (!is_object()) return end();
  return iterator(object_->find(key));
}

Json::const_iterator Json::find(std::string_view key) const {
  if (!is_object()) return end();
  return const_iterator(Object::const_iterator(object_->find(key)));
}

size_t Json::erase(std::string_view key) {
  if (!is_object()) return 0;
  auto it = object_->find(key);
  if (it == object_->end()) return 0;
  object_->erase(it);
  return 1;
}

void Json::update(const Json& other) {
  if (is_null()) *this = object();
  if (!is_object() || !other.is_object()) throw JsonError("update() needs two objects");
  for (const auto& [k, v] : *other.object_) object_->insert_or_assign(k, v);
}

std::pair<Json::iterator, bool> Json::emplace(std::string key, Json value) {
  if (is_null()) *this = object();
  if (!is_object()) throw JsonError(std::string("cannot use emplace() with ") + type_name());
  auto [it, added] = object_->emplace(std::move(key), std::move(value));
  return {iterator(it), added};
}

Json::Object& Json::items() {
  static thread_local Object empty;
  empty.clear();
  return is_object() ? *object_ : empty;
}

const Json::Object& Json::items() const {
  static const Object empty;
  return is_object() ? *object_ : empty;
}

Json& Json::Element(size_t index) {
  if (is_null()) *this = array();
  if (!is_array())
    throw JsonError(std::string("cannot use operator[] with a number on ") + type_name());
  if (index >= array_->size()) array_->resize(index + 1);
  return (*array_)[index];
}

Json& Json::at(size_t index) {
  return const_cast<Json&>(static_cast<const Json&>(*this).at(index));
}

const Json& Json::at(size_t index) const {
  if (!is_array()) throw JsonError(std::string("cannot use at() with ") + type_name());
  if (index >= array_->size()) {
    throw JsonError("array index " + std::to_string(index) + " is out of range");
  }
  return (*array_)[index];
}

void Json::push_back(Json value) {
  if (is_null()) *this = array();
  if (!is_array()) throw JsonError(std::string("cannot use push_back() with ") + type_name());
  array_->push_back(std::move(value));
}

Json& Json::back() { return const_cast<Json&>(static_cast<const Json&>(*this).back()); }
const Json& Json::back() const {
  if (is_array() && !array_->empty()) return array_->back();
  if (is_object() && !object_->empty()) return std::prev(object_->end())->second;
  throw JsonError(std::string("cannot use back() with an empty or scalar ") + type_name());
}

Json& Json::front() { return const_cast<Json&>(static_cast<const Json&>(*this).front()); }
const Json& Json::front() const {
  if (is_array() && !array_->empty()) return array_->front();
  if (is_object() && !object_->empty()) return object_->begin()->second;
  throw JsonError(std::string("cannot use front() with an empty or scalar ") + type_name());
}

size_t Json::size() const {
  if (is_array()) return array_->size();
  if (is_object()) return object_->size();
  return is_null() || is_discarded() ? 0 : 1;
}

void Json::clear() {
  if (is_array()) array_->clear();
  if (is_object()) object_->clear();
  if (is_string()) string_.clear();
  if (is_number()) int_ = 0, uint_ = 0, float_ = 0;
  if (is_boolean()) bool_ = false;
}

Json::iterator Json::begin() {
  if (is_array()) return iterator(array_->begin());
  if (is_object()) return iterator(object_->begin());
  return {};
}

Json::iterator Json::end() {
  if (is_array()) return iterator(array_->end());
  if (is_object()) return iterator(object_->end());
  return {};
}

Json::const_iterator Json::begin() const {
  if (is_array()) return const_iterator(Array::const_iterator(array_->cbegin()));
  if (is_object()) return const_iterator(Object::const_iterator(object_->cbegin()));
  return {};
}

Json::const_iterator Json::end() const {
  if (is_array()) return const_iterator(Array::const_iterator(array_->cend()));
  if (is_object()) return const_iterator(Object::const_iterator(object_->cend()));
  return {};
}

bool operator==(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.GetDouble() == b.GetDouble();
    if (a.is_number_unsigned() && b.is_number_unsigned()) return a.uint_ == b.uint_;
    if (a.is_number_unsigned() != b.is_number_unsigned()) {
      const Json& u = a.is_number_unsigned() ? a : b;
      const Json& s = a.is_number_unsigned() ? b : a;
      return s.int_ >= 0 && static_cast<uint64_t>(s.int_) == u.uint_;
    }
    return a.int_ == b.int_;
  }
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case Json::value_t::boolean:
      return a.bool_ == b.bool_;
    case Json::value_t::string:
      return a.string_ == b.string_;
    case Json::value_t::array:
      return *a.array_ == *b.array_;
    case Json::value_t::object:
      return *a.object_ == *b.object_;
    case Json::value_t::discarded:
      return false;
    default:
      return true;  // null
  }
}

namespace {
int KindRank(Json::value_t type) {
  switch (type) {
    case Json::value_t::null:
      return 0;
    case Json::value_t::boolean:
      return 1;
    case Json::value_t::object:
      return 3;
    case Json::value_t::array:
      return 4;
    case Json::value_t::string:
      return 5;
    case Json::value_t::discarded:
      return 6;
    default:
      return 2;  // numbers
  }
}
}  // namespace

bool operator<(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.GetDouble() < b.GetDouble();
    if (a.is_number_unsigned() && b.is_number_unsigned()) return a.uint_ < b.uint_;
    if (!a.is_number_unsigned() && !b.is_number_unsigned()) return a.int_ < b.int_;
    if (a.is_number_unsigned()) return b.int_ >= 0 && a.uint_ < static_cast<uint64_t>(b.int_);
    return a.int_ < 0 || static_cast<uint64_t>(a.int_) < b.uint_;
  }
  if (a.type_ != b.type_) return KindRank(a.type_) < KindRank(b.type_);
  switch (a.type_) {
    case Json::value_t::boolean:
      return a.bool_ < b.bool_;
    case Json::value_t::string:
      return a.string_ < b.string_;
    case Json::value_t::array:
      return *a.array_ < *b.array_;
    case Json::value_t::object:
      return *a.object_ < *b.object_;
    default:
      return false;
  }
}

std::ostream& operator<<(std::ostream& os, const Json& j) { return os << j.dump(); }

nlohmann::json ToNlohmann(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : value.items()) out[k] = ToNlohmann(v);
      return out;
    }
    case Json::value_t::array: {
      nlohmann::json out = nlohmann::json::array();
      for (const Json& v : value) out.push_back(ToNlohmann(v));
      return out;
    }
    case Json::value_t::string:
      return value.get_ref();
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::number_integer:
      return value.get<int64_t>();
    case Json::value_t::number_unsigned:
      return value.get<uint64_t>();
    case Json::value_t::number_float:
      return value.get<double>();
    case Json::value_t::discarded:
      return nlohmann::json(nlohmann::json::value_t::discarded);
    default:
      return nullptr;
  }
}

Json FromNlohmann(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      Json out = Json::object();
      for (const auto& [k, v] : value.items()) out.emplace(k, FromNlohmann(v));
      return out;
    }
    case nlohmann::json::value_t::array: {
      Json out = Json::array();
      for (const auto& v : value) out.push_back(FromNlohmann(v));
      return out;
    }
    case nlohmann::json::value_t::string:
      return Json(value.get_ref<const std::string&>());
    case nlohmann::json::value_t::boolean:
      return Json(value.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Json(value.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return Json(value.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return Json(value.get<double>());
    case nlohmann::json::value_t::binary: {
      Json out = Json::array();
      for (uint8_t byte : value.get_binary()) out.push_back(byte);
      return out;
    }
    case nlohmann::json::value_t::discarded:
      return Json::parse("", nullptr, false);
    default:
      return Json();
  }
}

}  // namespace mlcore
