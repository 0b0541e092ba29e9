/* placeholder: the web page (issue 11) replaces this */
