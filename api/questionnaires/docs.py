"""OpenAPI examples of the questionnaire routes."""

from __future__ import annotations

from typing import Any

QUESTIONNAIRE_EXAMPLE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "status": "active",
    "title": "Phiếu khai thông tin trước khám",
    "item": [
        {"linkId": "reason", "type": "text", "text": "Lý do khám", "required": True},
        {"linkId": "smoker", "type": "boolean", "text": "Có hút thuốc không?", "required": True},
        {
            "linkId": "packs",
            "type": "integer",
            "text": "Số bao mỗi ngày",
            "required": True,
            "enableWhen": [{"question": "smoker", "operator": "=", "answerBoolean": True}],
        },
        {
            "linkId": "pain",
            "type": "choice",
            "text": "Mức độ đau",
            "answerOption": [
                {"valueCoding": {"system": "urn:pain", "code": "none", "display": "Không"}},
                {"valueCoding": {"system": "urn:pain", "code": "mild", "display": "Nhẹ"}},
            ],
        },
    ],
}
RESPONSE_EXAMPLE: dict[str, Any] = {
    "resourceType": "QuestionnaireResponse",
    "status": "completed",
    "item": [
        {"linkId": "reason", "answer": [{"valueString": "Đau đầu kéo dài"}]},
        {"linkId": "smoker", "answer": [{"valueBoolean": True}]},
        {"linkId": "packs", "answer": [{"valueInteger": 1}]},
        {"linkId": "pain", "answer": [{"valueCoding": {"system": "urn:pain", "code": "mild"}}]},
    ],
}
