"""A generated section inside a hand-written document (docs/boards.md): the text between two
HTML comment markers is replaced, or appended when the markers are not there yet; written
to a temporary name, then renamed, so a reader never sees half a file."""
import os


def write_marked_section(path, begin, end, body):
    """Put body (which starts with begin and ends with end) in place of path's section."""
    text = open(path).read() if os.path.exists(path) else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text += "\n" + body + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
