// Return forms (docs/PROTOCOL.md, "Return forms"): the fields a directive
// asks each addressed unit to report once, and the checks an answer passes
// at the terminal and again at the broker. One form per directive version,
// part of the signed content, instead of each department's own forms.
#pragma once

#include <string>
#include <string_view>

#include <google/protobuf/repeated_field.h>

#include "flatcast.pb.h"
#include "flatcast/status.h"

namespace flatcast {

inline constexpr int kMaxFormFields = 32;
inline constexpr int64_t kMaxQuantity = 1'000'000'000'000;  // ±10^12: a province's sum fits

// Whether `form` is well made: 1 to 32 fields with distinct keys of a-z 0-9 _
// (starting with a letter), labels, a kind each, and limits that fit the
// kind. The message names the field and what is wrong.
Status ValidateReturnForm(const v1::ReturnForm& form);

// Checks an answer's values against `form` and puts them in the form's field
// order: every key known and given once, each value of its field's kind and
// within its limits, every required field present.
Status NormalizeReturnValues(const v1::ReturnForm& form,
                             google::protobuf::RepeatedPtrField<v1::FieldValue>* values);

// "key=value" as an operator types it, read by the kind of the form's field:
// a whole number, one of the choices (or its number from 1), yes/no
// (yes, no, y, n, true, false, 1, 0, 是, 否), or text.
Result<v1::FieldValue> ParseFieldAssignment(const v1::ReturnForm& form, std::string_view assignment);

// A value as text: "1200 个", "是", the choice, the text.
std::string FormatFieldValue(const v1::FormField& field, const v1::FieldValue& value);

// The field named `key`, or nullptr.
const v1::FormField* FindFormField(const v1::ReturnForm& form, std::string_view key);

// A form as the publisher writes it: a TOML file of [[fields]] tables, or
// JSON ({"fields": [...]}); kinds as QUANTITY, CHOICE, YES_NO, TEXT.
Result<v1::ReturnForm> LoadReturnFormFile(const std::string& path);

}  // namespace flatcast
