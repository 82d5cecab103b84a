int zme_placeholder;
