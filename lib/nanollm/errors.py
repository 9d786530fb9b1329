# The one exception class of the library. Every failure a user can cause (a bad model
# file, a prompt too long, a model that does not fit) raises this, with a message that
# says what is wrong and what to do.


class NanoLLMError(Exception):
    pass
