int zms_placeholder;
