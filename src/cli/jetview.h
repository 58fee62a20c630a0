/* jetview.h - what `generate` and `images` show while they write a jet file (produce.h's
 * events, which arrive on rank 0 only). */
#ifndef JETCNN_CLI_JETVIEW_H
#define JETCNN_CLI_JETVIEW_H

#include "jetcnn/produce.h"

/* The line of a PROGRESS or DONE event: "VERB D/N jets (P%)  R jets/s  S s elapsed, E s left". */
void jetview_progress(const char *verb, const produce_event *ev);

#endif
