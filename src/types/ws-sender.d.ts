// ws exports its frame encoder (`Sender.frame`) at run time, but @types/ws does not
// declare it. Switchyard uses it to frame a broadcast once for every recipient.
import "ws";

declare module "ws" {
  export const Sender: {
    frame(
      data: Buffer,
      options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean },
    ): Buffer[];
  };
}
