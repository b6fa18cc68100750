/*
 * elf-weaken-verneed FILE VERSION
 * Sets VER_FLG_WEAK on the version-needed entry VERSION (e.g. GLIBCXX_3.4.32) of a 64-bit little-endian ELF
 * shared object, so the dynamic loader no longer refuses the file when that version is missing (a weak
 * version need only warns). Idempotent. Exit 0 when done or already weak, 1 on any error, with a message.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *file) {
    fprintf(stderr, "elf-weaken-verneed: %s: %s\n", file, what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: elf-weaken-verneed FILE VERSION\n");
        return 2;
    }
    const char *path = argv[1], *want = argv[2];
    FILE *f = fopen(path, "r+b");
    if (!f) return fail("cannot open for writing", path);
    if (fseek(f, 0, SEEK_END) != 0) return fail("cannot seek", path);
    long size = ftell(f);
    if (size < (long)sizeof(Elf64_Ehdr)) return fail("too small to be ELF", path);
    unsigned char *buf = malloc((size_t)size);
    if (!buf) return fail("out of memory", path);
    rewind(f);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) return fail("cannot read", path);

    Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return fail("not a 64-bit little-endian ELF file", path);
    if (eh->e_shoff == 0 || eh->e_shoff + (Elf64_Off)eh->e_shnum * sizeof(Elf64_Shdr) > (Elf64_Off)size)
        return fail("section headers out of range", path);
    Elf64_Shdr *sh = (Elf64_Shdr *)(buf + eh->e_shoff);
    Elf64_Shdr *verneed = NULL;
    for (int i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == SHT_GNU_verneed) verneed = &sh[i];
    if (!verneed) return fail("no .gnu.version_r section", path);
    if (verneed->sh_link >= eh->e_shnum) return fail("bad string table link", path);
    Elf64_Shdr *strtab = &sh[verneed->sh_link];
    if (verneed->sh_offset + verneed->sh_size > (Elf64_Off)size || strtab->sh_offset + strtab->sh_size > (Elf64_Off)size)
        return fail("sections out of range", path);

    int found = 0, changed = 0;
    Elf64_Off off = verneed->sh_offset;
    for (;;) {
        if (off + sizeof(Elf64_Verneed) > verneed->sh_offset + verneed->sh_size) return fail("truncated Verneed", path);
        Elf64_Verneed *vn = (Elf64_Verneed *)(buf + off);
        Elf64_Off aoff = off + vn->vn_aux;
        for (int a = 0; a < vn->vn_cnt; a++) {
            if (aoff + sizeof(Elf64_Vernaux) > verneed->sh_offset + verneed->sh_size) return fail("truncated Vernaux", path);
            Elf64_Vernaux *aux = (Elf64_Vernaux *)(buf + aoff);
            if (aux->vna_name < strtab->sh_size) {
                const char *name = (const char *)(buf + strtab->sh_offset + aux->vna_name);
                if (strncmp(name, want, strtab->sh_size - aux->vna_name) == 0) {
                    found = 1;
                    if (!(aux->vna_flags & VER_FLG_WEAK)) {
                        aux->vna_flags |= VER_FLG_WEAK;
                        changed = 1;
                    }
                }
            }
            if (aux->vna_next == 0) break;
            aoff += aux->vna_next;
        }
        if (vn->vn_next == 0) break;
        off += vn->vn_next;
    }
    if (!found) return fail("version not needed by this file", path);
    if (changed) {
        rewind(f);
        if (fwrite(buf, 1, (size_t)size, f) != (size_t)size) return fail("cannot write", path);
    }
    fclose(f);
    free(buf);
    printf("%s: %s %s\n", path, want, changed ? "marked weak" : "already weak");
    return 0;
}
