#include "flatcast/return_form.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <vector>

namespace flatcast {

namespace {

constexpr size_t kMaxKeyBytes = 32;
constexpr size_t kMaxLabelBytes = 200;
constexpr size_t kMaxUnitBytes = 32;
constexpr int kMaxChoices = 32;
constexpr size_t kMaxChoiceBytes = 100;
constexpr uint32_t kMaxTextBytes = 1000;

bool IsFieldKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) return false;
  if (key[0] < 'a' || key[0] > 'z') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string_view KindName(int kind) {
  switch (kind) {
    case v1::FormField::QUANTITY: return "a quantity";
    case v1::FormField::CHOICE: return "a choice";
    case v1::FormField::YES_NO: return "yes or no";
    case v1::FormField::TEXT: return "text";
    default: return "unknown";
  }
}

// The value case each kind takes.
v1::FieldValue::ValueCase CaseOf(int kind) {
  switch (kind) {
    case v1::FormField::QUANTITY: return v1::FieldValue::kQuantity;
    case v1::FormField::CHOICE: return v1::FieldValue::kChoice;
    case v1::FormField::YES_NO: return v1::FieldValue::kYes;
    case v1::FormField::TEXT: return v1::FieldValue::kText;
    default: return v1::FieldValue::VALUE_NOT_SET;
  }
}

std::string_view CaseName(v1::FieldValue::ValueCase c) {
  switch (c) {
    case v1::FieldValue::kQuantity: return "a quantity";
    case v1::FieldValue::kChoice: return "a choice";
    case v1::FieldValue::kYes: return "yes or no";
    case v1::FieldValue::kText: return "text";
    default: return "no value";
  }
}

Status FieldError(int index, const v1::FormField& f, std::string_view what) {
  return Status::InvalidArgument(
      fmt::format("return form field {} ({}): {}", index + 1,
                  IsFieldKey(f.key()) ? f.key() : std::string("\"") + f.key().substr(0, 40) + "\"",
                  what));
}

Status CheckField(int i, const v1::FormField& f) {
  if (!IsFieldKey(f.key())) {
    return FieldError(i, f, "the key must be 1-32 of a-z 0-9 _, starting with a letter");
  }
  if (IsBlank(f.label())) return FieldError(i, f, "the label is empty");
  if (f.label().size() > kMaxLabelBytes) {
    return FieldError(i, f, fmt::format("the label is {} bytes; the limit is {}", f.label().size(),
                                        kMaxLabelBytes));
  }
  const bool quantity = f.kind() == v1::FormField::QUANTITY;
  switch (f.kind()) {
    case v1::FormField::QUANTITY:
      if (f.min() < -kMaxQuantity || f.max() > kMaxQuantity) {
        return FieldError(i, f, fmt::format("min and max must stay within ±{}", kMaxQuantity));
      }
      if (f.min() >= f.max()) {
        return FieldError(i, f, fmt::format("min {} must be below max {}", f.min(), f.max()));
      }
      if (f.unit().size() > kMaxUnitBytes) {
        return FieldError(i, f, fmt::format("the unit is {} bytes; the limit is {}",
                                            f.unit().size(), kMaxUnitBytes));
      }
      if (f.has_below() && (f.below() <= f.min() || f.below() > f.max())) {
        return FieldError(i, f, fmt::format("below {} must be above min {} and at most max {}",
                                            f.below(), f.min(), f.max()));
      }
      break;
    case v1::FormField::CHOICE: {
      if (f.choices_size() < 2 || f.choices_size() > kMaxChoices) {
        return FieldError(i, f, fmt::format("a choice needs 2 to {} choices, not {}", kMaxChoices,
                                            f.choices_size()));
      }
      std::set<std::string_view> seen;
      for (const std::string& c : f.choices()) {
        if (IsBlank(c) || c.size() > kMaxChoiceBytes) {
          return FieldError(i, f, fmt::format("each choice is 1-{} bytes, not blank",
                                              kMaxChoiceBytes));
        }
        if (!seen.insert(c).second) {
          return FieldError(i, f, fmt::format("the choice \"{}\" is there twice", c));
        }
      }
      break;
    }
    case v1::FormField::YES_NO:
      break;
    case v1::FormField::TEXT:
      if (f.max_length() < 1 || f.max_length() > kMaxTextBytes) {
        return FieldError(i, f, fmt::format("max_length must be 1 to {} bytes, not {}",
                                            kMaxTextBytes, f.max_length()));
      }
      break;
    default:
      return FieldError(i, f, "the kind must be QUANTITY, CHOICE, YES_NO or TEXT");
  }
  // Settings that belong to another kind are refused rather than ignored.
  if (!quantity && (f.min() != 0 || f.max() != 0 || f.has_below() || !f.unit().empty())) {
    return FieldError(i, f, "min, max, below and unit are for a QUANTITY only");
  }
  if (f.kind() != v1::FormField::CHOICE && f.choices_size() > 0) {
    return FieldError(i, f, "choices are for a CHOICE only");
  }
  if (f.kind() != v1::FormField::TEXT && f.max_length() != 0) {
    return FieldError(i, f, "max_length is for a TEXT only");
  }
  return Status::Ok();
}

Status CheckValue(const v1::FormField& f, const v1::FieldValue& v) {
  const v1::FieldValue::ValueCase want = CaseOf(f.kind());
  if (v.value_case() != want) {
    return Status::InvalidArgument(fmt::format("{} (\"{}\") takes {}, not {}", f.key(), f.label(),
                                               KindName(f.kind()), CaseName(v.value_case())));
  }
  switch (want) {
    case v1::FieldValue::kQuantity:
      if (v.quantity() < f.min() || v.quantity() > f.max()) {
        return Status::InvalidArgument(fmt::format("{} (\"{}\") is {}; it must be from {} to {}",
                                                   f.key(), f.label(), v.quantity(), f.min(),
                                                   f.max()));
      }
      break;
    case v1::FieldValue::kChoice:
      if (std::find(f.choices().begin(), f.choices().end(), v.choice()) == f.choices().end()) {
        std::vector<std::string> choices(f.choices().begin(), f.choices().end());
        return Status::InvalidArgument(fmt::format("{} (\"{}\"): \"{}\" is not one of: {}", f.key(),
                                                   f.label(), v.choice().substr(0, 100),
                                                   fmt::join(choices, ", ")));
      }
      break;
    case v1::FieldValue::kText:
      if (v.text().size() > f.max_length()) {
        return Status::InvalidArgument(fmt::format("{} (\"{}\") is {} bytes; at most {}", f.key(),
                                                   f.label(), v.text().size(), f.max_length()));
      }
      if (f.required() && IsBlank(v.text())) {
        return Status::InvalidArgument(
            fmt::format("{} (\"{}\") is required and is blank", f.key(), f.label()));
      }
      break;
    default:
      break;
  }
  return Status::Ok();
}

}  // namespace

Status ValidateReturnForm(const v1::ReturnForm& form) {
  if (form.fields_size() == 0) {
    return Status::InvalidArgument("the return form has no field");
  }
  if (form.fields_size() > kMaxFormFields) {
    return Status::InvalidArgument(fmt::format("the return form has {} fields; the limit is {}",
                                               form.fields_size(), kMaxFormFields));
  }
  std::set<std::string_view> keys;
  for (int i = 0; i < form.fields_size(); ++i) {
    FLATCAST_RETURN_IF_ERROR(CheckField(i, form.fields(i)));
    if (!keys.insert(form.fields(i).key()).second) {
      return FieldError(i, form.fields(i), "the key is used by an earlier field");
    }
  }
  return Status::Ok();
}

const v1::FormField* FindFormField(const v1::ReturnForm& form, std::string_view key) {
  for (const v1::FormField& f : form.fields()) {
    if (f.key() == key) return &f;
  }
  return nullptr;
}

Status NormalizeReturnValues(const v1::ReturnForm& form,
                             google::protobuf::RepeatedPtrField<v1::FieldValue>* values) {
  if (values->size() > form.fields_size()) {
    return Status::InvalidArgument(fmt::format("{} values for a form of {} fields", values->size(),
                                               form.fields_size()));
  }
  // Position in the form of each value.
  std::vector<int> at(form.fields_size(), -1);
  for (int i = 0; i < values->size(); ++i) {
    const v1::FieldValue& v = values->Get(i);
    int index = -1;
    for (int j = 0; j < form.fields_size(); ++j) {
      if (form.fields(j).key() == v.key()) index = j;
    }
    if (index < 0) {
      std::vector<std::string> known;
      for (const v1::FormField& f : form.fields()) known.push_back(f.key());
      return Status::InvalidArgument(fmt::format("the form has no field \"{}\" (it has: {})",
                                                 v.key().substr(0, 40), fmt::join(known, ", ")));
    }
    if (at[index] >= 0) {
      return Status::InvalidArgument(fmt::format("{} is answered twice", v.key()));
    }
    FLATCAST_RETURN_IF_ERROR(CheckValue(form.fields(index), v));
    at[index] = i;
  }
  google::protobuf::RepeatedPtrField<v1::FieldValue> ordered;
  for (int j = 0; j < form.fields_size(); ++j) {
    const v1::FormField& f = form.fields(j);
    if (at[j] < 0) {
      if (f.required()) {
        return Status::InvalidArgument(
            fmt::format("{} (\"{}\") is required and has no answer", f.key(), f.label()));
      }
      continue;
    }
    *ordered.Add() = values->Get(at[j]);
  }
  values->Swap(&ordered);
  return Status::Ok();
}

Result<v1::FieldValue> ParseFieldAssignment(const v1::ReturnForm& form, std::string_view assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument(
        fmt::format("\"{}\" is not key=value", assignment.substr(0, 100)));
  }
  std::string_view key = assignment.substr(0, eq);
  std::string_view text = assignment.substr(eq + 1);
  const v1::FormField* f = FindFormField(form, key);
  if (f == nullptr) {
    std::vector<std::string> known;
    for (const v1::FormField& field : form.fields()) known.push_back(field.key());
    return Status::InvalidArgument(fmt::format("the form has no field \"{}\" (it has: {})",
                                               key.substr(0, 40), fmt::join(known, ", ")));
  }
  v1::FieldValue v;
  v.set_key(std::string(key));
  switch (f->kind()) {
    case v1::FormField::QUANTITY: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
        return Status::InvalidArgument(fmt::format("{} (\"{}\") takes a whole number, not \"{}\"",
                                                   f->key(), f->label(), text.substr(0, 40)));
      }
      v.set_quantity(n);
      break;
    }
    case v1::FormField::CHOICE: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      const bool number = ec == std::errc() && end == text.data() + text.size() && !text.empty();
      const bool listed =
          std::find(f->choices().begin(), f->choices().end(), text) != f->choices().end();
      if (!listed && number && n >= 1 && n <= f->choices_size()) {
        v.set_choice(f->choices(static_cast<int>(n - 1)));
      } else {
        v.set_choice(std::string(text));
      }
      break;
    }
    case v1::FormField::YES_NO: {
      static const std::set<std::string_view> yes = {"yes", "y", "true", "1", "是"};
      static const std::set<std::string_view> no = {"no", "n", "false", "0", "否"};
      if (yes.count(text)) {
        v.set_yes(true);
      } else if (no.count(text)) {
        v.set_yes(false);
      } else {
        return Status::InvalidArgument(fmt::format("{} (\"{}\") takes yes or no, not \"{}\"",
                                                   f->key(), f->label(), text.substr(0, 40)));
      }
      break;
    }
    case v1::FormField::TEXT:
      v.set_text(std::string(text));
      break;
    default:
      return Status::InvalidArgument(fmt::format("{} has an unknown kind", f->key()));
  }
  FLATCAST_RETURN_IF_ERROR(CheckValue(*f, v));
  return v;
}

std::string FormatFieldValue(const v1::FormField& field, const v1::FieldValue& value) {
  switch (value.value_case()) {
    case v1::FieldValue::kQuantity:
      return field.unit().empty() ? std::to_string(value.quantity())
                                  : fmt::format("{} {}", value.quantity(), field.unit());
    case v1::FieldValue::kChoice: return value.choice();
    case v1::FieldValue::kYes: return value.yes() ? "yes" : "no";
    case v1::FieldValue::kText: return value.text();
    default: return "";
  }
}

}  // namespace flatcast
