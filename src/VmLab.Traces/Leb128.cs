namespace VmLab.Traces;

/// <summary>
/// Unsigned LEB128 numbers (7 bits per byte, low group first, the high bit set on every byte but the last), as the
/// <c>.vmt</c> format and the sweep's packed trace recordings store them. <see cref="VmtReader"/> reads its own a word
/// at a time from a padded buffer; this is the plain byte-at-a-time form.
/// </summary>
public static class Leb128
{
    /// <summary>The most bytes a 64-bit number takes.</summary>
    public const int MaxBytes = 10;

    /// <summary>Writes <paramref name="value"/> at the start of <paramref name="destination"/>; the bytes written.</summary>
    public static int Write(Span<byte> destination, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a number at <paramref name="pos"/> of <paramref name="source"/> and moves past it.</summary>
    /// <exception cref="InvalidDataException">The number runs longer than <see cref="MaxBytes"/> bytes.</exception>
    public static ulong Read(ReadOnlySpan<byte> source, ref int pos)
    {
        ulong value = 0;
        for (int shift = 0; shift < 7 * MaxBytes; shift += 7)
        {
            byte b = source[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new InvalidDataException($"a LEB128 number longer than {MaxBytes} bytes");
    }
}
