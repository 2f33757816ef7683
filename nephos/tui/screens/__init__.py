"""The screens of ``nephos watch`` beyond the main one: target detail, help, alert facts."""
