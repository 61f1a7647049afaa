# embed.cmake — turn a text file into a C array (run with -DIN= -DOUT= -DSYMBOL=).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by sim/embed.cmake: do not edit. */\nconst char ${SYMBOL}[] = {${body}0x00};\n")
